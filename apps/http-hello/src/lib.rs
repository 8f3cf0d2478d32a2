//! The app as a `wasi:http/proxy` component: the shim (runwasi's wasmtime, Spin) listens and
//! calls `handle` for each request.

pub mod answer;

#[cfg(all(target_arch = "wasm32", feature = "component"))]
mod component {
    use crate::answer::answer;
    use wasip2::http::types::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};

    wasip2::http::proxy::export!(HttpHello);

    struct HttpHello;

    impl wasip2::exports::http::incoming_handler::Guest for HttpHello {
        fn handle(request: IncomingRequest, out: ResponseOutparam) {
            let path = request.path_with_query().unwrap_or_default();
            let (status, body) = answer(&path);
            let headers = Fields::from_list(&[
                ("content-type".to_string(), b"text/plain".to_vec()),
                ("x-served-by".to_string(), b"wasm".to_vec()),
            ])
            .expect("valid headers");
            let response = OutgoingResponse::new(headers);
            response.set_status_code(status).expect("a valid status");
            let outgoing = response.body().expect("the body is taken once");
            ResponseOutparam::set(out, Ok(response));
            let stream = outgoing.write().expect("the stream is taken once");
            // A failed write means the client went away; nothing is left to do.
            let _ = stream.blocking_write_and_flush(body.as_bytes());
            drop(stream);
            let _ = OutgoingBody::finish(outgoing, None);
        }
    }
}
