#!/bin/sh
# Publish every policy of an mtasts build to S3: one bucket per policy host, named after it
# (mta-sts.<domain>), each policy at .well-known/mta-sts.txt as text/plain with a short cache.
# Put a CloudFront distribution in front of each bucket (alternate name mta-sts.<domain>, an
# ACM certificate for it, HTTPS only) and point mta-sts.<domain> at the distribution.
#
# Usage: contrib/s3-publish.sh [OUTPUT_DIR]    (default: output)
# Credentials and region come from the usual AWS environment; AWS_ENDPOINT_URL points the CLI
# at an S3-compatible server instead of AWS. Run it before publishing the DNS records
# (RFC 8461 section 8.1: policy first, TXT id second).
set -eu
out="${1:-output}"
found=0
for dir in "$out"/webroot/mta-sts.*/; do
    [ -f "$dir.well-known/mta-sts.txt" ] || continue
    # Host names in the output are validated LDH A-labels: safe as bucket names and words.
    host=$(basename "$dir")
    aws s3api head-bucket --bucket "$host" >/dev/null 2>&1 || aws s3 mb "s3://$host" >/dev/null
    aws s3 cp "$dir.well-known/mta-sts.txt" "s3://$host/.well-known/mta-sts.txt" \
        --content-type text/plain --cache-control max-age=60 >/dev/null
    echo "published https://$host/.well-known/mta-sts.txt"
    found=$((found + 1))
done
[ "$found" -gt 0 ] || { echo "no policy under $out/webroot/ (is webroot in [output] targets?)" >&2; exit 1; }
