//! What the app answers, the same in both forms: the twins differ only in how they run.

/// The status and body for a request path, and the mode in a header of its own.
pub fn answer(path: &str) -> (u16, &'static str) {
    match path.split('?').next().unwrap_or("") {
        "/" | "/healthz" => (200, "Hello from http-hello\n"),
        _ => (404, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_and_health_answer_and_the_rest_is_not_found() {
        assert_eq!(answer("/").0, 200);
        assert_eq!(answer("/healthz?x=1").0, 200);
        assert_eq!(answer("/nope").0, 404);
    }
}
