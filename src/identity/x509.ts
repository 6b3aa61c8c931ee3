// The single entry to @peculiar/x509: it needs the reflect-metadata polyfill loaded first (its DI
// container checks for it at import time) and node's WebCrypto as its crypto provider.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export * from '@peculiar/x509';
