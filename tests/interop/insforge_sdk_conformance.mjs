// @insforge/sdk's database client against rowgate's data API, signed in with an
// access token as an app using an external auth provider does. Reads
// ROWGATE_URL, ROWGATE_TOKEN (a bridge token) and ROWGATE_RUN; prints the
// steps' results as one JSON object.
import { createClient } from '@insforge/sdk';

import { runSteps } from './postgrest_js_steps.mjs';

const { ROWGATE_URL, ROWGATE_TOKEN, ROWGATE_RUN } = process.env;
const client = createClient({
  baseUrl: ROWGATE_URL,
  accessToken: ROWGATE_TOKEN,
  retryCount: 0,
});
console.log(JSON.stringify(await runSteps(client.database, ROWGATE_RUN)));
