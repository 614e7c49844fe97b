// Parses a generated netlify/ directory with Netlify's own parsers (tests/it/targets.rs).
import { parseAllRedirects } from '@netlify/redirect-parser';
import { parseAllHeaders } from '@netlify/headers-parser';
const dir = process.argv[2];
const r = await parseAllRedirects({ redirectsFiles: [dir + '/_redirects'], netlifyConfigPath: undefined, minimal: false });
const h = await parseAllHeaders({ headersFiles: [dir + '/_headers'], netlifyConfigPath: undefined, minimal: false });
console.log(JSON.stringify({ redirects: r.redirects, rerrors: r.errors.map(String), headers: h.headers, herrors: h.errors.map(String) }, null, 1));
