//! `celgate serve` as a child process for the tests that drive the binary: the command line with
//! loopback listeners on free ports, the child killed when the test ends, and its JSON log lines
//! read on a thread so a test can wait for a given event.

use std::io::BufRead as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

/// `celgate serve --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --cert-dir CERTS --packs PACKS`
/// with info logs; callers add their own flags and environment.
pub fn serve_command(cert_dir: &Path, packs: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_celgate"));
    command
        .arg("serve")
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--cert-dir")
        .arg(cert_dir)
        .arg("--packs")
        .arg(packs)
        .env("CELGATE_LOG", "info");
    command
}

/// A running `celgate serve`, killed and reaped on drop.
pub struct ServeProcess {
    child: Child,
    log_lines: Receiver<String>,
}

impl ServeProcess {
    /// Starts `command` with its standard error (the JSON log) read line by line.
    pub fn spawn(mut command: Command) -> Self {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("celgate serve starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let (tx, log_lines) = channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, log_lines }
    }

    /// The fields of the first log event whose message is `message`, waiting at most `limit`.
    pub fn wait_for_event(&self, message: &str, limit: Duration) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let line = self
                .log_lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("no '{message}' log event within {limit:?}"));
            let event: Value = serde_json::from_str(&line).unwrap_or_default();
            if event["fields"]["message"] == message {
                return event["fields"].clone();
            }
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
