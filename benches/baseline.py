"""The issue's yardstick: a plain Python/Jinja2 script that writes the same three files per
domain as `mtasts build` (policy, nginx vhost, zone fragment) from the same domains.toml,
with no validation, no lock, no atomicity and no skipping of unchanged files.

Usage: python3 baseline.py CONFIG OUTDIR TEMPLATES_DIR
"""
import datetime, os, sys, tomllib
import jinja2

config_path, out, templates = sys.argv[1:4]
with open(config_path, "rb") as f:
    config = tomllib.load(f)
env = jinja2.Environment(loader=jinja2.FileSystemLoader(templates), keep_trailing_newline=True,
                         trim_blocks=True, lstrip_blocks=True)
env.filters["nginx_quote"] = lambda v: '"' + v + '"'
nginx_t, zone_t = env.get_template("nginx.conf.j2"), env.get_template("zone.j2")
defaults = config.get("defaults", {})
stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S")
for name, d in config["domains"].items():
    d = {**defaults, **d}
    domain = name.encode("idna").decode()
    host = "mta-sts." + domain
    mode, mx, max_age = d.get("mode", "testing"), d["mx"], d.get("max_age", 604800)
    policy = "version: STSv1\r\nmode: %s\r\n%smax_age: %d\r\n" % (
        mode, "".join("mx: %s\r\n" % m for m in mx), max_age)
    records = [{"owner": "_mta-sts.%s." % domain, "ttl": 3600, "type": "TXT",
                "rdata": '"v=STSv1; id=%s"' % stamp},
               {"owner": host + ".", "ttl": 3600, "type": "CNAME", "rdata": d["policy_cname"] + "."},
               {"owner": "_smtp._tls.%s." % domain, "ttl": 3600, "type": "TXT",
                "rdata": '"v=TLSRPTv1; rua=%s"' % ",".join(d["tlsrpt_rua"])}]
    files = {
        "webroot/%s/.well-known/mta-sts.txt" % host: policy,
        "nginx/%s.conf" % host: nginx_t.render(
            domain=domain, domain_unicode=name, host=host, id=stamp, mode=mode,
            listen=["443 ssl", "[::]:443 ssl"], webroot="/var/www/mta-sts",
            certificate="/etc/letsencrypt/live/%s/fullchain.pem" % host,
            certificate_key="/etc/letsencrypt/live/%s/privkey.pem" % host,
            root="/var/www/mta-sts/" + host),
        "dns/%s.zone" % domain: zone_t.render(domain=domain, domain_unicode=name, id=stamp,
                                              mode=mode, records=records),
    }
    for rel, text in files.items():
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", newline="") as f:
            f.write(text)
