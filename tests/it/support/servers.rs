//! Redis and Postgres servers of a test's own, for drills that stop, kill or inspect
//! a whole server.

use std::path::Path;
use std::process::Command;

use super::*;

/// A Redis server of the test's own, for assertions on server-wide statistics.
pub struct PrivateRedis {
    pub url: String,
    port: u16,
    durable: bool,
    child: std::process::Child,
    /// Removed on drop, after the server is stopped (fields drop after `drop` runs).
    _dir: tempfile::TempDir,
}
impl PrivateRedis {
    /// A Redis that keeps nothing on disk.
    pub fn start() -> Self {
        Self::launch(false)
    }

    /// A Redis with the recommended persistence (`deploy/redis.conf`): an append-only
    /// file synced every second.
    pub fn start_durable() -> Self {
        Self::launch(true)
    }

    fn launch(durable: bool) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = temp_dir(&format!("redis-{port}"));
        let child = Self::spawn(port, durable, dir.path());
        let redis = Self {
            url: format!("redis://127.0.0.1:{port}"),
            port,
            durable,
            child,
            _dir: dir,
        };
        redis.wait_ready();
        redis
    }

    fn spawn(port: u16, durable: bool, dir: &Path) -> std::process::Child {
        let persistence: [&str; 4] = if durable {
            ["--appendonly", "yes", "--appendfsync", "everysec"]
        } else {
            ["--appendonly", "no", "--save", ""]
        };
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(persistence)
            .arg("--dir")
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is installed (deploy/dev/test.sh installs it)")
    }

    /// Waits (bounded) until the server accepts connections.
    fn wait_ready(&self) {
        let client = redis::Client::open(self.url.as_str()).expect("url");
        for attempt in 0.. {
            match client.get_connection() {
                Ok(_) => break,
                Err(error) if attempt < 500 => {
                    let _ = error;
                    std::thread::yield_now();
                    std::thread::park_timeout(std::time::Duration::from_millis(10));
                }
                Err(error) => panic!("private redis did not start: {error}"),
            }
        }
    }

    /// Stops the server as an operator's restart does (`SHUTDOWN`: the append-only
    /// file is flushed) and starts it again on the same port and directory.
    pub fn restart(&mut self) {
        if let Ok(mut connection) =
            redis::Client::open(self.url.as_str()).and_then(|c| c.get_connection())
        {
            let _: Result<(), _> = redis::cmd("SHUTDOWN").query(&mut connection);
        }
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, self.durable, self._dir.path());
        self.wait_ready();
    }

    /// Kills the server outright and leaves it down: an outage.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server outright (SIGKILL: nothing flushed, no goodbye), as a crash
    /// does, and starts it again on the same port and directory.
    pub fn kill_and_restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = Self::spawn(self.port, self.durable, self._dir.path());
        self.wait_ready();
    }
}
impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Postgres server of a test's own, started (and stopped, and started again) with
/// `deploy/dev/services.sh`, for drills that take the database away.
pub struct PrivatePostgres {
    /// A URL of its `postgres` database.
    pub url: String,
    port: u16,
    dir: tempfile::TempDir,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let dir = temp_dir("postgres");
        // initdb runs as the postgres user when the tests run as root: it must reach it.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let port = Self::services(&["yima_free_port"], dir.path())
            .trim()
            .parse()
            .expect("a port");
        let postgres = Self {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            port,
            dir,
        };
        postgres.resume();
        postgres
    }

    /// Runs a function of `deploy/dev/services.sh` with the data directory and port.
    fn services(call: &[&str], dir: &Path) -> String {
        let output = Command::new("bash")
            .current_dir(repo())
            .arg("-c")
            .arg(format!(". deploy/dev/services.sh && {}", call.join(" ")))
            .env("DIR", dir)
            .output()
            .expect("bash");
        assert!(output.status.success(), "{call:?}: {}", stderr(&output));
        stdout(&output)
    }

    /// Stops the server (a fast shutdown: sessions are cut off).
    pub fn stop(&self) {
        Self::services(&["yima_stop_postgres", "\"$DIR\""], self.dir.path());
    }

    /// Starts the server again on the same port and data.
    pub fn resume(&self) {
        let port = self.port.to_string();
        Self::services(&["yima_start_postgres", "\"$DIR\"", &port], self.dir.path());
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
