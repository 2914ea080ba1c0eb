// twilio-node as application code writes it: credentials from the environment, no base URL.
// HTTP_PROXY and NODE_EXTRA_CA_CERTS send it through the fake's proxy. Environment: SERVICE and
// NUMBERS (comma-separated PN SIDs, not yet in the pool). Prints one JSON object.
const twilio = require("twilio");

async function main() {
  const client = twilio(); // TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN
  const numbers = process.env.NUMBERS.split(",");
  const pool = client.messaging.v1.services(process.env.SERVICE).phoneNumbers;
  const created = [];
  for (const sid of numbers) {
    created.push((await pool.create({ phoneNumberSid: sid })).url);
  }
  const listed = (await pool.list({ pageSize: 2 })).map((number) => number.sid);
  const fetched = await pool(numbers[0]).fetch();
  const removed = await pool(numbers[0]).remove();
  let missing = null;
  try {
    await pool(numbers[0]).fetch();
  } catch (error) {
    missing = { status: error.status, code: error.code };
  }
  console.log(JSON.stringify({ created, listed, fetched: fetched.sid, removed, missing }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
