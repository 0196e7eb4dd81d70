//! Bare pingora passthrough with no filters: the benchmark's baseline for what pingora itself
//! costs, so the gateway's own overhead can be read off as a ratio.
//! Usage: passthrough LISTEN UPSTREAM CERT KEY

use async_trait::async_trait;
use pingora::prelude::*;

// The gateway's allocator, so that the ratio of (c) to (b) is the gateway's own cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Passthrough {
    upstream: String,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();
    fn new_ctx(&self) -> Self::CTX {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(
            self.upstream.as_str(),
            false,
            String::new(),
        )))
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, listen, upstream, cert, key] = args.as_slice() else {
        eprintln!("usage: passthrough LISTEN UPSTREAM CERT KEY");
        std::process::exit(2);
    };
    // Same worker count as the gateway's default and the benchmark's nginx.
    let conf = pingora::server::configuration::ServerConf {
        threads: 2,
        ..Default::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(
        &server.configuration,
        Passthrough {
            upstream: upstream.clone(),
        },
    );
    let mut tls =
        pingora::listeners::tls::TlsSettings::intermediate(cert, key).expect("tls settings");
    tls.enable_h2();
    service.add_tls_with_settings(listen, None, tls);
    server.add_service(service);
    server.run_forever();
}
