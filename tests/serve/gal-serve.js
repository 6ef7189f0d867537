// gal-serve.js: google-auth-library finds credentials as it would on Compute Engine, with only
// GCE_METADATA_HOST pointing at token-broker-credential serve (no credential file).
//
//   node gal-serve.js AUDIENCE
//
// Prints one JSON line: {"ok":true,"client","token","projectId","idToken"} or
// {"ok":false,"error"}. Exit status 0 either way (the caller judges); 2 on a usage error.
'use strict';

const {GoogleAuth} = require('google-auth-library');

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node gal-serve.js AUDIENCE\n');
    return 2;
  }
  const audience = process.argv[2];
  const auth = new GoogleAuth({scopes: ['https://www.googleapis.com/auth/cloud-platform']});
  try {
    const client = await auth.getClient();
    const res = await client.getAccessToken();
    const projectId = await auth.getProjectId();
    const idClient = await auth.getIdTokenClient(audience);
    const headers = await idClient.getRequestHeaders();
    const authz = typeof headers.get === 'function' ? headers.get('authorization')
                                                    : headers.Authorization;
    process.stdout.write(JSON.stringify({
      ok: true,
      client: client.constructor.name,
      token: res.token,
      projectId: projectId,
      idToken: authz && authz.startsWith('Bearer ') ? authz.slice(7) : null,
    }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({
      ok: false,
      error: String(e && e.message ? e.message : e),
    }) + '\n');
  }
  return 0;
}

main().then((rc) => process.exit(rc), (e) => {
  process.stdout.write(JSON.stringify({ok: false, error: String(e)}) + '\n');
  process.exit(0);
});
