//! Whether the API answers behind the ingress: one raw HTTP/1.1 request over TCP, so that no
//! HTTP client is compiled into xtask for it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Waits until the ingress on `127.0.0.1:port` routes `/order/…` to order-processor: until the
/// route exists traefik answers a plain-text 404, the app a problem document.
pub(super) fn wait_for_api(port: u16, timeout: Duration) -> Result<()> {
    eprintln!("==> waiting for the API behind the ingress on port {port}");
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api_answers(port) {
            Ok(true) => return Ok(()),
            Ok(false) => "the ingress does not route /order yet".to_owned(),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            bail!(
                "the API did not answer on http://localhost:{port}/order within {timeout:?}: {last}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether `GET /order/<nil uuid>` gets the app's `application/problem+json` answer.
fn api_answers(port: u16) -> std::io::Result<bool> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(
        b"GET /order/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\n\
          Host: localhost\r\nConnection: close\r\n\r\n",
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    Ok(response
        .lines()
        .take_while(|line| !line.is_empty())
        .any(|header| {
            header
                .to_ascii_lowercase()
                .starts_with("content-type: application/problem+json")
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Serves each canned response to one connection, in order, then stops.
    fn answer_in_turn(responses: &'static [&'static str]) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 1024];
                let read = stream.read(&mut request).unwrap();
                assert!(
                    request[..read].starts_with(
                        b"GET /order/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\n"
                    )
                );
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        port
    }

    #[test]
    fn the_api_counts_as_up_once_the_app_answers_through_the_ingress() {
        let port = answer_in_turn(&[
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n404 page not found\n",
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\n\r\n{\"status\":404}",
        ]);
        wait_for_api(port, Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn an_ingress_that_never_routes_the_api_times_out_saying_so() {
        let port = answer_in_turn(&[
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n404 page not found\n",
        ]);
        let error = wait_for_api(port, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "the API did not answer on http://localhost:{port}/order within"
            )),
            "{error}"
        );
    }
}
