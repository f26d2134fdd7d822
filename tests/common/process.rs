//! Running the real binaries: `strata serve` as a child process (stopped by
//! PID), and the tools.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct ServeProcess {
    pub child: Child,
    pub base: String,
}

impl ServeProcess {
    /// Starts `strata serve --data DIR --listen 127.0.0.1:0` and waits until it answers.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_env(data, extra, &[])
    }

    pub fn start_env(data: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
        cmd.args(["serve", "--data"])
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn strata serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let mut reader = BufReader::new(stdout);
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("strata serve exited before listening");
            }
            if let Some(i) = line.find("http://") {
                break line[i..].trim().to_string();
            }
            assert!(Instant::now() < deadline, "strata serve did not start");
        };
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while reader.read_line(&mut sink).unwrap_or(0) > 0 {
                sink.clear();
            }
        });
        ServeProcess { child, base }
    }

    /// SIGTERM by PID, then wait for a clean exit.
    pub fn stop(mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: plain kill(2) on our own child's PID.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let status = self.child.wait().expect("wait");
        assert!(status.success(), "strata serve exit status {status}");
        drop(self);
    }

    /// SIGKILL by PID (a crash).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServeProcess {
    /// A test that fails midway must not leave a server behind.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs a tool binary; returns (exit code, stdout, stderr).
pub fn run_tool(exe: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(exe).args(args).output().expect("run tool");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
