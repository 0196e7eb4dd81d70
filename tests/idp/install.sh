#!/usr/bin/env bash
# Installs the test OpenID provider's packages (oidc-provider, jose) into tests/idp/node_modules.
set -euo pipefail
cd "$(dirname "$0")"
npm install --no-audit --no-fund
