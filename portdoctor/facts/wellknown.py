"""Well-known services: who usually owns a port, and how to check on it and start it.

:data:`WELL_KNOWN` maps a port to its :class:`KnownService` (PostgreSQL 5432, MySQL 3306,
Redis 6379, MongoDB 27017, the common development-server ports, ...): the process
names, systemd units, Unix socket names and start commands of each. A table only: what
reads the machine about them is :mod:`portdoctor.facts.services`.
"""

from __future__ import annotations

import re

from portdoctor.records import dataclass


@dataclass(frozen=True)
class KnownService:
    """The service that usually owns a port, and how to check on it."""

    name: str  # "PostgreSQL"
    processes: tuple[str, ...] = ()  # process names (comm); empty: too generic to look for
    units: tuple[str, ...] = ()  # systemd unit name prefixes: "postgresql" matches postgresql@15-main
    brew: str | None = None  # Homebrew formula for `brew services start`
    docker: str | None = None  # a docker run command that publishes the port
    windows_service: str | None = None  # a Get-Service name pattern
    unix_socket: str | None = None  # regex for the basename of its Unix socket; {port} is filled in
    tcp_setting: str | None = None  # the setting that turns TCP on when only the Unix socket listens
    start: str | None = None  # how a development server is usually started

    def socket_pattern(self, port: int) -> re.Pattern[str] | None:
        if not self.unix_socket:
            return None
        return re.compile(self.unix_socket.replace("{port}", str(port)))


_DEV = "a development server"
WELL_KNOWN: dict[int, KnownService] = {
    5432: KnownService(
        "PostgreSQL", ("postgres", "postmaster"), ("postgresql",), "postgresql",
        "docker run -d -p 5432:5432 -e POSTGRES_PASSWORD=secret postgres", "postgresql*",
        r"^\.s\.PGSQL\.{port}$",
        "set listen_addresses = 'localhost' in postgresql.conf (SHOW config_file; in psql), then restart",
    ),
    3306: KnownService(
        "MySQL/MariaDB", ("mysqld", "mariadbd"), ("mysql", "mysqld", "mariadb"), "mysql",
        "docker run -d -p 3306:3306 -e MYSQL_ROOT_PASSWORD=secret mysql", "MySQL*",
        r"^(mysqld?|mariadb)\.sock$",
        "remove skip-networking (or set bind-address = 127.0.0.1) in my.cnf, then restart",
    ),
    6379: KnownService(
        "Redis", ("redis-server", "valkey-server"), ("redis", "redis-server", "valkey"), "redis",
        "docker run -d -p 6379:6379 redis", None,
        r"^(redis|valkey).*\.sock$",
        "set port 6379 (not port 0) in redis.conf, then restart",
    ),
    27017: KnownService(
        "MongoDB", ("mongod",), ("mongod", "mongodb"), "mongodb-community",
        "docker run -d -p 27017:27017 mongo", "MongoDB*",
        r"^mongodb-{port}\.sock$", None,
    ),
    11211: KnownService("memcached", ("memcached",), ("memcached",), "memcached",
                        "docker run -d -p 11211:11211 memcached"),
    5672: KnownService("RabbitMQ (AMQP)", ("beam.smp",), ("rabbitmq-server",), "rabbitmq",
                       "docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:management", "RabbitMQ*"),
    15672: KnownService("the RabbitMQ management UI", ("beam.smp",), ("rabbitmq-server",), "rabbitmq",
                        "docker run -d -p 5672:5672 -p 15672:15672 rabbitmq:management", "RabbitMQ*",
                        start="rabbitmq-plugins enable rabbitmq_management"),
    9200: KnownService("Elasticsearch/OpenSearch", (), ("elasticsearch", "opensearch"), "elasticsearch",
                       "docker run -d -p 9200:9200 -e discovery.type=single-node elasticsearch:8.15.0"),
    9092: KnownService("Kafka", (), ("kafka",), "kafka", "docker run -d -p 9092:9092 apache/kafka"),
    1433: KnownService("SQL Server", ("sqlservr",), ("mssql-server",), None,
                       "docker run -d -p 1433:1433 -e ACCEPT_EULA=Y -e MSSQL_SA_PASSWORD=Secret123! "
                       "mcr.microsoft.com/mssql/server", "MSSQL*"),
    3000: KnownService(f"{_DEV} (React/Next.js/Express, Rails, Grafana)",
                       start="npm run dev   (or: npm start, rails server, bin/dev)"),
    4200: KnownService(f"{_DEV} (Angular: ng serve)", start="npx ng serve"),
    5000: KnownService(f"{_DEV} (Flask; on macOS also the AirPlay Receiver)", start="flask run"),
    5173: KnownService(f"{_DEV} (Vite)", start="npm run dev"),
    8000: KnownService(f"{_DEV} (Django runserver, uvicorn, python -m http.server)",
                       start="python manage.py runserver   (or: uvicorn app:app, python -m http.server)"),
    8080: KnownService("an HTTP service (Tomcat, Jenkins, Spring Boot, a proxy, a dev server)",
                       start="the service's own start command (e.g. ./mvnw spring-boot:run)"),
    8888: KnownService(f"{_DEV} (Jupyter)", start="jupyter lab"),
    9000: KnownService("PHP-FPM, MinIO, SonarQube or Portainer", ("php-fpm", "minio"),
                       ("php-fpm", "minio", "sonarqube")),
}
