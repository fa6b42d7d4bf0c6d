"""`make e2e-wordpress`: a real WordPress on 127.0.0.1, driven by our product in
tests/integrations/cms/test_e2e_real_wordpress.py.

1. Installs what it needs when missing: Debian's ``wordpress`` package with PHP (php-cli,
   php-mysql, php-gd, php-xml, php-curl, php-mbstring). apt-get runs under ``flock`` on
   $APT_LOCK when that is set, so parallel runs on one machine wait for each other.
2. Uses the MariaDB on 127.0.0.1:3306 (root, no password; override with WP_E2E_DB_*), in a
   database of its own that is created empty and dropped at the end.
3. Copies the package's files into a temporary folder with a wp-config.php of its own (the
   Debian one looks for /etc/wordpress/config-<host>.php) and serves it with PHP's built-in
   server on a free local port.
4. Installs WordPress through its installer endpoint (POST /wp-admin/install.php?step=2) and
   creates an application password for the admin with php-cli.
5. Runs the e2e tests with WP_E2E_BASE_URL, WP_E2E_USER and WP_E2E_APP_PASSWORD set.
6. Stops PHP, drops the database and removes the folder, also on failure or ^C.

Usage: python -m e2e.wordpress.run [--serve] [pytest args...]. --serve keeps WordPress running until
^C instead of running the tests. Only Python's standard library and requests are needed.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from e2e.harness import free_port, interrupt_on_termination, stop, tail, wait_until

ROOT = Path(__file__).resolve().parents[2]
WORDPRESS = Path("/usr/share/wordpress")
PACKAGES = ["wordpress", "php-cli", "php-mysql", "php-gd", "php-xml", "php-curl", "php-mbstring", "mariadb-client"]
STARTUP_TIMEOUT = float(os.environ.get("WP_E2E_STARTUP_TIMEOUT", "60"))
DB_HOST = os.environ.get("WP_E2E_DB_HOST", "127.0.0.1")
DB_PORT = int(os.environ.get("WP_E2E_DB_PORT", "3306"))
DB_USER = os.environ.get("WP_E2E_DB_USER", "root")
DB_PASSWORD = os.environ.get("WP_E2E_DB_PASSWORD", "")
DB_NAME = os.environ.get("WP_E2E_DB_NAME", "wp_e2e")
ADMIN = {"user": "e2e-admin", "email": "e2e-admin@example.com", "password": "E2e-" + secrets.token_urlsafe(16)}


def log(message: str) -> None:
    print(f"[e2e-wordpress] {message}", flush=True)


def ensure_installed() -> None:
    """apt-get installs the packages when WordPress, PHP or its MySQL driver is missing."""
    php = shutil.which("php")
    has_mysqli = php and "mysqli" in subprocess.run([php, "-m"], capture_output=True, text=True).stdout
    if (WORDPRESS / "wp-settings.php").exists() and has_mysqli and shutil.which("mysql"):
        return
    log("installing " + " ".join(PACKAGES) + " with apt-get")
    lock = os.environ.get("APT_LOCK")
    prefix = ["flock", lock] if lock else []
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        [*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *PACKAGES], check=True, env=env
    )


def mysql(sql: str) -> None:
    command = ["mysql", "-h", DB_HOST, "-P", str(DB_PORT), "-u", DB_USER, "--batch", "-e", sql]
    env = {**os.environ, "MYSQL_PWD": DB_PASSWORD}
    subprocess.run(command, check=True, env=env, timeout=30, stdout=subprocess.DEVNULL)


def php_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def write_site(site: Path, base: str) -> None:
    """The package's files, with our wp-config.php and a writable wp-content of our own."""
    shutil.copytree(
        WORDPRESS, site, symlinks=False, ignore=shutil.ignore_patterns("wp-config.php"), ignore_dangling_symlinks=True
    )
    (site / "wp-content" / "uploads").mkdir(parents=True, exist_ok=True)
    salts = "\n".join(
        f"define({php_string(name)}, {php_string(secrets.token_urlsafe(48))});"
        for name in (
            "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
            "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
        )  # fmt: skip
    )
    (site / "wp-config.php").write_text(
        f"""<?php
define('DB_NAME', {php_string(DB_NAME)});
define('DB_USER', {php_string(DB_USER)});
define('DB_PASSWORD', {php_string(DB_PASSWORD)});
define('DB_HOST', {php_string(f"{DB_HOST}:{DB_PORT}")});
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
{salts}
$table_prefix = 'wp_';
define('WP_HOME', {php_string(base)});
define('WP_SITEURL', {php_string(base)});
// Application passwords over plain HTTP are allowed only in a "local" environment.
define('WP_ENVIRONMENT_TYPE', 'local');
define('WP_DEBUG', false);
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('FS_METHOD', 'direct');
if (!defined('ABSPATH')) {{ define('ABSPATH', __DIR__ . '/'); }}
require_once ABSPATH . 'wp-settings.php';
"""
    )


def install(base: str) -> None:
    """WordPress's own installer, as the browser form posts it."""
    response = requests.post(
        f"{base}/wp-admin/install.php?step=2",
        data={
            "weblog_title": "Marketing e2e",
            "user_name": ADMIN["user"],
            "admin_password": ADMIN["password"],
            "admin_password2": ADMIN["password"],
            "pw_weak": "1",
            "admin_email": ADMIN["email"],
            "blog_public": "0",
            "language": "",
        },
        timeout=120,
    )
    if response.status_code != 200 or "wp-login.php" not in response.text:
        raise RuntimeError(f"the installer answered {response.status_code}:\n{response.text[:2000]}")


def application_password(site: Path, port: int) -> str:
    """An application password for the admin, made with WordPress's own API under php-cli."""
    script = f"""
$_SERVER['HTTP_HOST'] = '127.0.0.1:{port}';
define('WP_USE_THEMES', false);
require {php_string(str(site / 'wp-load.php'))};
$user = get_user_by('login', {php_string(ADMIN['user'])});
$created = WP_Application_Passwords::create_new_application_password($user->ID, array('name' => 'marketing e2e'));
if (is_wp_error($created)) {{ fwrite(STDERR, $created->get_error_message()); exit(1); }}
echo $created[0];
"""
    result = subprocess.run(["php", "-r", script], cwd=site, capture_output=True, text=True, timeout=60)
    password = result.stdout.strip()
    if result.returncode != 0 or not re.fullmatch(r"[A-Za-z0-9]{24}", password):
        raise RuntimeError(f"could not create an application password: {result.stderr or result.stdout}"[:2000])
    return password


def main(argv: list[str]) -> int:
    serve = "--serve" in argv
    pytest_args = [arg for arg in argv if arg != "--serve"]
    interrupt_on_termination()
    ensure_installed()
    home = Path(tempfile.mkdtemp(prefix="marketing-wp-e2e-"))
    site = home / "site"
    logfile = home / "php.log"
    process = None
    succeeded = False
    try:
        mysql(f"DROP DATABASE IF EXISTS `{DB_NAME}`; CREATE DATABASE `{DB_NAME}` CHARACTER SET utf8mb4")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        write_site(site, base)
        log(f"starting WordPress on {base} (files in {site}, database {DB_NAME})")
        with open(logfile, "wb") as out:
            process = subprocess.Popen(
                [
                    "php", "-S", f"127.0.0.1:{port}", "-t", str(site),
                    "-d", "upload_max_filesize=20M", "-d", "post_max_size=25M", "-d", "memory_limit=256M",
                ],  # fmt: skip
                cwd=site,
                # Several workers: WordPress answers one request while our app sends the next.
                env={**os.environ, "PHP_CLI_SERVER_WORKERS": "4"},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        started = time.monotonic()
        wait_until(
            lambda: requests.get(f"{base}/wp-admin/install.php", timeout=5).status_code == 200,
            process=process, what="WordPress (php -S)", logfile=logfile, timeout=STARTUP_TIMEOUT, every=0.3,
        )  # fmt: skip
        install(base)
        password = application_password(site, port)
        log(f"installed in {time.monotonic() - started:.1f}s; user {ADMIN['user']} has an application password")
        if serve:
            log(f"serving: {base} user {ADMIN['user']} application password {password}  (^C to stop)")
            while process.poll() is None:
                time.sleep(1)
            return 1
        env = {**os.environ, "WP_E2E_BASE_URL": base, "WP_E2E_USER": ADMIN["user"], "WP_E2E_APP_PASSWORD": password}
        command = [str(ROOT / ".venv" / "bin" / "pytest"), "tests/integrations/cms/test_e2e_real_wordpress.py", "-p", "no:xdist", *pytest_args]
        log("running " + " ".join(command[1:]))
        result = subprocess.run(command, cwd=ROOT, env=env)
        succeeded = result.returncode == 0
        return result.returncode
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if not succeeded and not serve:
            log(f"PHP log (last lines):\n{tail(logfile, 40)}")
        stop(process, grace=10, log=log)
        try:
            mysql(f"DROP DATABASE IF EXISTS `{DB_NAME}`")
        except (subprocess.SubprocessError, OSError):
            log("could not drop the database")
        shutil.rmtree(home, ignore_errors=True)
        log("stopped; database dropped and files removed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
