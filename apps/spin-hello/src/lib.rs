//! The app as a Spin HTTP component: the Spin shim reads `spin.toml` beside it in the image,
//! listens, and calls `handle` for each request under the route `/...`.

use http_hello::answer::answer;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

#[http_component]
fn handle(request: Request) -> Response {
    let (status, body) = answer(request.path_and_query().unwrap_or("/"));
    Response::builder()
        .status(status)
        .header("content-type", "text/plain")
        .header("x-served-by", "spin")
        .body(body)
        .build()
}
