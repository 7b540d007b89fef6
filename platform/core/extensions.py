"""Flask extensions, created unbound; ``create_app`` binds them with ``init_app``."""
from __future__ import annotations

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from kameng.core.models import Base
from kameng.core.redis import RedisConnection

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
redis_conn = RedisConnection()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
