"""Session-wide test setup.

scikit-learn's estimator checks include its array-API check, which needs scipy's array-API
mode switched on before scipy is first imported; with numpy inputs scipy behaves as usual.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")
