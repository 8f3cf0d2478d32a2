//! Prints a line saying it started (with the mode it was built for), then the content of each
//! file named in its arguments, then sleeps until it is stopped. The e2e suite mounts a
//! ConfigMap into its pods and reads the file's content back from the pod's log: proof that a
//! Wasm module sees the volumes of its pod.

use std::time::Duration;

fn main() {
    let mode = if cfg!(target_family = "wasm") { "wasm" } else { "container" };
    println!("print-and-sleep started ({mode})");
    for path in std::env::args().skip(1) {
        match std::fs::read_to_string(&path) {
            Ok(text) => println!("{path}: {}", text.trim_end()),
            Err(e) => println!("{path}: cannot read: {e}"),
        }
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}
