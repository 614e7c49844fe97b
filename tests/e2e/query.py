"""Resolve MTA-STS policies with postfix-mta-sts-resolver's own STSResolver.

This is the code path of its `mta-sts-query` command, with one JSON line per domain on stdout
instead of a Python repr. DNS comes from /etc/resolv.conf and the CA from SSL_CERT_FILE, as for
any installation of the client.
"""

import asyncio
import json
import sys

from postfix_mta_sts_resolver.resolver import STSResolver


async def main(domains):
    resolver = STSResolver(loop=asyncio.get_running_loop(), timeout=10)
    for domain in domains:
        result, answer = await resolver.resolve(domain)
        line = {"domain": domain, "result": result.name, "id": None, "policy": None}
        if answer is not None:
            line["id"], line["policy"] = answer
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
