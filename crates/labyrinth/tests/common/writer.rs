//! A client that keeps writing while a test breaks the control plane: one
//! ConfigMap per write, each name kept once the server acknowledged it
//! (kubectl exited 0), so the test can check none of them was lost.

use super::labyrinth;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

pub struct Writer {
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Start writing `w-0`, `w-1`, … into the lab's default namespace
    /// (bounded: at most 2000 writes).
    pub fn start(lab: &str, request_timeout: &str) -> Writer {
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let thread = {
            let (stop, acked, name) = (stop.clone(), acked.clone(), lab.to_string());
            let timeout = format!("--request-timeout={request_timeout}");
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) && i < 2000 {
                    let cm = format!("w-{i}");
                    let out = labyrinth(&["kubectl", "--name", &name, "create", "configmap", &cm, &timeout]);
                    if out.status.success() {
                        acked.lock().unwrap().push(cm);
                    }
                    i += 1;
                }
            })
        };
        Writer {
            stop,
            acked,
            thread: Some(thread),
        }
    }

    /// How many writes were acknowledged so far.
    pub fn acked(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    /// Stop writing; every acknowledged name.
    pub fn finish(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.acked.lock().unwrap().clone()
    }
}

/// The acknowledged names missing from `kubectl get configmaps -o name`.
pub fn lost<'a>(acked: &'a [String], stored: &str) -> Vec<&'a String> {
    acked
        .iter()
        .filter(|cm| !stored.lines().any(|l| l == format!("configmap/{cm}")))
        .collect()
}
