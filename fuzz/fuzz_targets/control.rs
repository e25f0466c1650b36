//! The control protocol's decoders on arbitrary lines: the supervisor's request decoder
//! answers every line (a request or an error response that encodes), and the client's
//! response reader gives a value or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proctor::control::proto::{self, Body, Response};

fuzz_target!(|data: &[u8]| {
    if let Err(response) = proto::decode_request(data) {
        assert!(matches!(response.body, Body::Error(_)));
        let wire = proto::encode(&*response);
        assert!(serde_json::from_slice::<Response>(&wire).is_ok());
    }
    let _ = serde_json::from_slice::<Response>(data);
});
