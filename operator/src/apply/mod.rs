//! Writing the children a plan renders: one loop for every kind (`children.rs`), each child
//! written by server-side apply and put back after other managers' edits (`server_side.rs`).

pub mod children;
pub mod server_side;
