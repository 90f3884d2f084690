// @supabase/postgrest-js against rowgate's data API. Reads ROWGATE_URL (the
// backend's origin), ROWGATE_TOKEN (a bridge token) and ROWGATE_RUN (a unique
// key); prints the steps' results as one JSON object.
import { PostgrestClient } from '@supabase/postgrest-js';

import { runSteps } from './postgrest_js_steps.mjs';

const { ROWGATE_URL, ROWGATE_TOKEN, ROWGATE_RUN } = process.env;
const db = new PostgrestClient(`${ROWGATE_URL}/api/database/records`, {
  headers: { Authorization: `Bearer ${ROWGATE_TOKEN}` },
});
console.log(JSON.stringify(await runSteps(db, ROWGATE_RUN)));
