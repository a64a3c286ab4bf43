// Node 18 (Debian 12's nodejs) has Web Crypto only as node:crypto's webcrypto, not as the global
// `crypto` that c2pa-ts uses; imported first, before c2pa-ts is evaluated.
import { webcrypto } from 'node:crypto';

if (!globalThis.crypto) globalThis.crypto = webcrypto;
