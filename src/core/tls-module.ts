// node:tls, loaded with require() instead of `import`. An ESM import of a builtin makes node build the
// module's ESM facade, which reads every export once — and `tls.rootCertificates` is a lazy getter:
// reading it makes node materialise its ~140 bundled root certificates (about 140 KB of PEM strings,
// 0.4–0.8 MB of RSS measured, docs/PERFORMANCE.md "Idle memory") that weft never uses: mesh TLS
// trusts only the mesh's own CA. Import `tls` from here; types still come from 'node:tls' (`import type`).
import { createRequire } from 'node:module';
import type * as Tls from 'node:tls';

export const tls: typeof Tls = createRequire(import.meta.url)('node:tls') as typeof Tls;
