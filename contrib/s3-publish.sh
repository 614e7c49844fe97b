#!/bin/sh
# Publish every policy of an mtasts build into ONE S3 bucket, each under its host's prefix:
# s3://BUCKET/mta-sts.<domain>/.well-known/mta-sts.txt, text/plain with a short cache. The
# `cloudfront` target's function.js maps each Host header to that prefix.
#
# Usage: contrib/s3-publish.sh BUCKET [OUTPUT_DIR] [LOCK]   (defaults: output, domains.lock)
# Uploads only what changed; removes the keys of this config's hosts that the build no longer
# generates (every domain LOCK names, retired ones included); touches no other key; never
# creates a bucket. Credentials and region come from the usual AWS environment;
# AWS_ENDPOINT_URL points the CLI at an S3-compatible server instead of AWS. Run it before
# publishing the DNS records (RFC 8461 section 8.1: policy first, TXT id second).
set -eu
bucket="${1:?usage: contrib/s3-publish.sh BUCKET [OUTPUT_DIR] [LOCK]}"
out="${2:-output}"
lock="${3:-domains.lock}"
if ! aws s3api head-bucket --bucket "$bucket" >/dev/null 2>&1; then
    echo "bucket $bucket does not exist or is not yours: create it once (private, origin access control for CloudFront)" >&2
    exit 1
fi
# One sync for every host (a process per host would take minutes at a thousand): only files
# whose size or time changed are uploaded (the build leaves unchanged files untouched). No
# --delete: keys of other hosts in the bucket are not this config's to remove.
found=$(find "$out/webroot" -mindepth 3 -maxdepth 3 -path "$out/webroot/mta-sts.*/.well-known/mta-sts.txt" -type f 2>/dev/null | wc -l)
if [ "$found" -gt 0 ]; then
    aws s3 sync "$out/webroot/" "s3://$bucket/" --no-progress --exclude '*' \
        --include 'mta-sts.*/.well-known/mta-sts.txt' \
        --content-type text/plain --cache-control max-age=60 |
        sed -n "s|^upload: .* to |uploaded |p"
fi
[ "$found" -gt 0 ] || { echo "no policy under $out/webroot/ (is webroot in [output] targets?)" >&2; exit 1; }
# Hosts of this config that the build no longer generates: their policy must not stay served.
# The bucket's prefixes are listed once, so that a long history of retired domains in the
# lock costs nothing when their keys are already gone.
if [ -f "$lock" ]; then
    present=$(aws s3api list-objects-v2 --bucket "$bucket" --delimiter / \
        --query 'CommonPrefixes[].Prefix' --output text | tr '\t' '\n')
    sed -n 's/^\[domains\."\([a-z0-9.-]*\)"\]$/\1/p' "$lock" | while read -r domain; do
        host="mta-sts.$domain"
        [ -d "$out/webroot/$host" ] && continue
        printf '%s\n' "$present" | grep -qxF "$host/" || continue
        aws s3 rm "s3://$bucket/$host/" --recursive </dev/null | tr '\r' '\n' | sed -n "s|^delete: |removed |p"
    done
fi
echo "$found host(s) in s3://$bucket/; serve them through the CloudFront distribution before publishing DNS"
