// Reads the Content Credentials of one JPEG with c2pa-ts, a pure TypeScript implementation of the C2PA
// specification that shares no code with the Rust library Flux signs with, and prints what it found as JSON.
// Flux's tests use it as a second opinion: a manifest only one implementation can read is not a standard one.
//
//   node tools/c2pa-verify/verify.mjs FILE.jpg
//
// "valid" is c2pa-ts's verdict: the claim signature verifies, every hashed reference and the hash over
// the image match, and each certificate fits the C2PA certificate profile. c2pa-ts 0.9 does not
// check the chain of trust (its README says so), hence "trust_checked": false; that stays the SDK's job.
//
// Exit status: 0 when the file was read (whatever the verdict), 2 when it could not be read at all.
import './webcrypto.mjs';
import { readFile } from 'node:fs/promises';
import { JPEG } from '@trustnxt/c2pa-ts/asset';
import { SuperBox } from '@trustnxt/c2pa-ts/jumbf';
import {
    ActionAssertion,
    IngredientAssertion,
    ManifestStore,
    UnknownAssertion,
    ValidationResult,
} from '@trustnxt/c2pa-ts/manifest';

// CBOR byte strings, big integers and maps have no JSON form of their own.
function plain(value) {
    if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [String(k), plain(v)]));
    if (value instanceof Date) return value.toISOString();
    if (Array.isArray(value)) return value.map(plain);
    if (value && typeof value === 'object') {
        return Object.fromEntries(
            Object.entries(value)
                .filter(([, v]) => v !== undefined)
                .map(([k, v]) => [k, plain(v)]),
        );
    }
    return value;
}

// c2pa-ts leaves assertions it has no class for (like Flux's own) unparsed; their CBOR or JSON box is
// still decoded by the JUMBF layer, so the content can be read from there.
function contentOf(assertion) {
    const box = assertion.sourceBox?.contentBoxes?.[0];
    return box && 'content' in box ? plain(box.content) : undefined;
}

function distinguishedName(certificate) {
    return certificate ? String(certificate.subject) : undefined;
}

async function main(path) {
    const report = { file: path, manifest_found: false, valid: false, trust_checked: false, status: [], failures: [] };
    const buffer = new Uint8Array(await readFile(path));
    if (!JPEG.canRead(buffer)) {
        report.error = 'not a JPEG';
        return report;
    }
    const asset = new JPEG(buffer);
    const jumbf = asset.getManifestJUMBF();
    if (!jumbf) return report;
    report.manifest_found = true;

    let store;
    let result;
    try {
        store = ManifestStore.read(SuperBox.fromBuffer(jumbf));
        result = await store.validate(asset);
    } catch (error) {
        result = ValidationResult.fromError(error);
        report.error = String(error?.message ?? error);
    }
    report.valid = result.isValid;
    report.status = result.statusEntries.map(plain);
    report.failures = result.statusEntries.filter((entry) => entry.success === false).map((entry) => entry.code);

    const manifest = store?.getActiveManifest();
    if (!manifest) return report;
    report.active_manifest = manifest.label;
    report.claim_generator = manifest.claim?.claimGeneratorName;
    report.signer = {
        subject: distinguishedName(manifest.signature?.signatureData?.certificate),
        issuer: manifest.signature?.signatureData?.certificate
            ? String(manifest.signature.signatureData.certificate.issuer)
            : undefined,
        chain_length: 1 + (manifest.signature?.signatureData?.chainCertificates?.length ?? 0),
    };
    const assertions = manifest.assertions?.assertions ?? [];
    report.assertion_labels = assertions.map((assertion) => assertion.fullLabel);
    report.actions = assertions.filter((a) => a instanceof ActionAssertion).flatMap((a) => a.actions.map(plain));
    report.ingredients = assertions
        .filter((a) => a instanceof IngredientAssertion)
        .map((a) => plain({ title: a.title, format: a.format, relationship: a.relationship }));
    report.other_assertions = Object.fromEntries(
        assertions
            .filter((a) => a instanceof UnknownAssertion)
            .map((a) => [a.fullLabel, contentOf(a)]),
    );
    return report;
}

const path = process.argv[2];
if (!path) {
    console.error('usage: node verify.mjs FILE.jpg');
    process.exit(2);
}
try {
    console.log(JSON.stringify(await main(path), null, 2));
} catch (error) {
    console.error(`c2pa-verify: cannot read ${path}: ${error?.stack ?? error}`);
    process.exit(2);
}
