//! A minimal HTTP/1.1 GET for health checks: status line only, no TLS.

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// GETs `url` and checks the status: any 2xx, or one of `accept` when given.
pub(super) async fn get(url: &str, accept: &[u16]) -> Result<(), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("http {url}: only http:// URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let mut stream = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("http {url}: {e}"))?;
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nUser-Agent: proctor\r\nConnection: close\r\n\r\n"
    );
    super::write_all(&mut stream, req.as_bytes())
        .await
        .map_err(|e| format!("http {url}: {e}"))?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream
            .read(&mut buf)
            .await
            .map_err(|e| format!("http {url}: {e}"))?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let code: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("http {url}: not an HTTP response"))?;
    let ok = if accept.is_empty() {
        (200..300).contains(&code)
    } else {
        accept.contains(&code)
    };
    if ok {
        Ok(())
    } else {
        Err(format!("http {url}: status {code}"))
    }
}
