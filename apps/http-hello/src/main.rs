//! The app's container twin: the same answers over plain HTTP/1.1 on `LISTEN_ADDR`
//! (0.0.0.0:8080, as the wasmtime shim's default), one thread per connection.
//!
//! `HELLO_STOP_ANSWERING_AFTER_SECONDS=N` makes it stop accepting connections N seconds after
//! it starts, as a hung server would: the e2e suite shows that a liveness probe restarts it.

use http_hello::answer::answer;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn serve(stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The headers end at the first empty line; nothing in them changes the answer.
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (status, body) = answer(path);
    let reason = if status == 200 { "OK" } else { "Not Found" };
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {status} {reason}\r\ncontent-type: text/plain\r\nx-served-by: container\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

fn main() {
    let addr = std::env::var("LISTEN_ADDR").unwrap_or_else(|_| "0.0.0.0:8080".to_string());
    let stop_after = std::env::var("HELLO_STOP_ANSWERING_AFTER_SECONDS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Duration::from_secs);
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| panic!("cannot listen on {addr}: {e}"));
    println!("http-hello listening on {addr} (container)");
    let started = Instant::now();
    for stream in listener.incoming() {
        if stop_after.is_some_and(|d| started.elapsed() >= d) {
            println!("http-hello stops answering, as asked");
            drop(listener);
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        if let Ok(s) = stream {
            std::thread::spawn(move || {
                let _ = serve(s);
            });
        }
    }
}
