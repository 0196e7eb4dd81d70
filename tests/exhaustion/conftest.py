"""Resource-exhaustion attacks against the real proxy in front of the real core.

Each test gets its own proxy (so per-peer connection limits start empty) with the built-in
defaults, the OAuth server on (its public endpoints read bodies), and request rate limits off
so that the attacks meet only the connection and protocol defences. The smuggling tests put a
relay between proxy and core that reads what the core is sent (`relayed_gateway`); the attacks
that measure latency go straight to the core, so that no Python thread sits in the path."""

import pytest

from conftest import Proxy, auth_toml, policy_toml
from .harness import Gateway
from .relay import Relay


@pytest.fixture
def gateway(tmp_path_factory, core):
    yield from _gateway(tmp_path_factory, core, relay=None)


@pytest.fixture
def relayed_gateway(tmp_path_factory, core):
    relay = Relay(core.port)
    yield from _gateway(tmp_path_factory, core, relay)
    relay.close()


def _gateway(tmp_path_factory, core, relay: Relay | None):
    workdir = tmp_path_factory.mktemp("exhaustion")
    proxy = Proxy(workdir, relay.port if relay else core.port,
                  extra_toml=auth_toml(workdir) + policy_toml() + "[oauth]\nenabled = true\n[traffic]\nrate_limits = false\n")
    key = proxy.create_key("probe", "admin")
    proxy.start()
    yield Gateway(proxy, core.process.pid, key, relay)
    proxy.stop()
