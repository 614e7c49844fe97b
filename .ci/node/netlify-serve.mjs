// Answers requests against a generated netlify/ directory as `netlify dev` does: the rules of
// _redirects parsed by Netlify's parser and normalised as netlify-cli does, matched by Netlify's
// redirect engine (netlify-redirector, libredirect compiled to WebAssembly), then netlify-cli's
// static rule: a forced rule, or a rule where no file lies at the path, wins over the file.
// Usage: node netlify-serve.mjs DIR '[["host", "/path"], ...]' (tests/it/targets.rs).
import fs from 'node:fs';
import path from 'node:path';
import { parseAllRedirects } from '@netlify/redirect-parser';
import redirector from 'netlify-redirector';

const dir = process.argv[2];
const requests = JSON.parse(process.argv[3]);
const parsed = await parseAllRedirects({ redirectsFiles: [path.join(dir, '_redirects')], netlifyConfigPath: undefined, minimal: false });
if (parsed.errors.length > 0) {
  throw new Error(parsed.errors.map(String).join('\n'));
}
// netlify-cli's normaliseRedirect: the engine calls `from` origin and `query` params.
const rules = parsed.redirects.map(({ conditions: { country, language, role, ...conditions }, from, query, ...rule }) => ({
  ...rule,
  origin: from,
  params: query,
  conditions: { ...conditions, ...(role && { Role: role }), ...(country && { Country: country }), ...(language && { Language: language }) },
}));
const matcher = await redirector.parseJSON(JSON.stringify(rules), {});
const file = (p) => {
  const full = path.join(dir, decodeURIComponent(p));
  return full.startsWith(dir + path.sep) && fs.existsSync(full) && fs.statSync(full).isFile() ? fs.readFileSync(full, 'utf8') : null;
};
const answers = requests.map(([host, p]) => {
  const url = new URL(p, `https://${host}`);
  const match = matcher.match({
    scheme: 'https', host: url.hostname, path: url.pathname, query: '', headers: {}, cookieValues: {},
    getHeader: () => '', getCookie: () => '',
  });
  const there = file(url.pathname);
  if (match && (match.force || there === null)) {
    if (match.status === 200) {
      const body = file(match.to);
      return body === null ? { status: 404 } : { status: 200, body };
    }
    return { status: match.status };
  }
  return there === null ? { status: 404 } : { status: 200, body: there };
});
console.log(JSON.stringify(answers));
