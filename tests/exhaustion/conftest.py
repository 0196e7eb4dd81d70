"""Resource-exhaustion attacks against the real proxy in front of the real core.

Each test gets its own proxy (so per-peer connection limits start empty) with the built-in
defaults, the OAuth server on (its public endpoints read bodies), and request rate limits off
so that the attacks meet only the connection and protocol defences. Between proxy and core a relay reads what the core is sent."""

import pytest

from conftest import Proxy, auth_toml, policy_toml
from .harness import Gateway
from .relay import Relay


@pytest.fixture
def gateway(tmp_path_factory, core):
    relay = Relay(core.port)
    workdir = tmp_path_factory.mktemp("exhaustion")
    proxy = Proxy(workdir, relay.port,
                  extra_toml=auth_toml(workdir) + policy_toml() + "[oauth]\nenabled = true\n[traffic]\nrate_limits = false\n")
    key = proxy.create_key("probe", "admin")
    proxy.start()
    yield Gateway(proxy, relay, key)
    proxy.stop()
    relay.close()
