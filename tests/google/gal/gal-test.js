// gal-test.js: asks google-auth-library for an access token with an external_account
// (executable-sourced) credential configuration, as an application on a client machine would.
//
//   node gal-test.js CONFIG.json
//
// Prints one JSON line: {"ok":true,"token":...,"expiry_date":...} or {"ok":false,"error":...,
// "code":...}. Exit status 0 either way (the caller judges); 2 on a usage error.
'use strict';

const fs = require('fs');
const {GoogleAuth} = require('google-auth-library');

async function main() {
  if (process.argv.length !== 3) {
    process.stderr.write('usage: node gal-test.js CONFIG.json\n');
    return 2;
  }
  const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const auth = new GoogleAuth({
    credentials: config,
    scopes: ['https://www.googleapis.com/auth/cloud-platform'],
  });
  try {
    const client = await auth.getClient();
    const res = await client.getAccessToken();
    const creds = client.credentials || {};
    process.stdout.write(JSON.stringify({
      ok: true,
      client: client.constructor.name,
      token: res.token,
      expiry_date: creds.expiry_date || null,
    }) + '\n');
  } catch (e) {
    process.stdout.write(JSON.stringify({
      ok: false,
      error: String(e && e.message ? e.message : e),
      code: e && e.code !== undefined ? String(e.code) : null,
      name: e && e.constructor ? e.constructor.name : null,
    }) + '\n');
  }
  return 0;
}

main().then((rc) => process.exit(rc), (e) => {
  process.stdout.write(JSON.stringify({ok: false, error: String(e)}) + '\n');
  process.exit(0);
});
