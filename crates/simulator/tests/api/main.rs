//! Integration tests: the real simulator on 127.0.0.1 port 0 (through `run_standalone`), driven
//! over HTTP like the gateway and a browser would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod authorize;
mod garbage;
mod helpers;
mod login;
mod qr;
mod token;
mod userinfo;
