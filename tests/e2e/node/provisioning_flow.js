// The provisioning flow with twilio-node, from an empty account: create a service, search, buy
// two, pool both, release one, delete the service, and the errors on the way. Prints one JSON
// object. Environment: FAKE_URL, ACCOUNT, TOKEN, UNKNOWN_SERVICE, OTHER_NUMBER.
const twilio = require("twilio");

async function attempt(call) {
  try {
    await call();
    return { ok: true };
  } catch (error) {
    return { status: error.status, code: error.code, message: error.message };
  }
}

async function main() {
  const env = process.env;
  const client = twilio(env.ACCOUNT, env.TOKEN);
  client.api.baseUrl = env.FAKE_URL;
  client.messaging.baseUrl = env.FAKE_URL;
  const results = {};

  const service = await client.messaging.v1.services.create({ friendlyName: "Reminders" });
  const pool = client.messaging.v1.services(service.sid).phoneNumbers;
  results.emptyPool = (await pool.list()).map((n) => n.sid);
  const found = await client.availablePhoneNumbers("US").local.list({ areaCode: 415, limit: 2 });
  results.found = found.map((n) => n.phoneNumber);
  const numbers = client.incomingPhoneNumbers;
  const bought = [];
  for (const candidate of found) {
    bought.push(await numbers.create({ phoneNumber: candidate.phoneNumber }));
  }
  results.bought = bought.map((n) => n.phoneNumber);
  results.boughtSids = bought.map((n) => n.sid);
  for (const number of bought) {
    await pool.create({ phoneNumberSid: number.sid });
  }
  results.pooled = (await pool.list()).map((n) => n.sid);

  results.notForSale = await attempt(() => numbers.create({ phoneNumber: "+15005550000" }));
  results.invalid = await attempt(() => numbers.create({ phoneNumber: "+15005550001" }));
  results.noneInAreaCode = await attempt(() => numbers.create({ areaCode: "533" }));
  results.unknownService = await attempt(() =>
    client.messaging.v1.services(env.UNKNOWN_SERVICE).phoneNumbers.create({ phoneNumberSid: bought[0].sid })
  );
  results.otherAccountsNumber = await attempt(() => pool.create({ phoneNumberSid: env.OTHER_NUMBER }));

  await numbers(bought[0].sid).remove();
  results.poolEntryAfterRelease = await attempt(() => pool(bought[0].sid).fetch());
  results.afterRelease = (await pool.list()).map((n) => n.sid);
  results.serviceRemoved = await client.messaging.v1.services(service.sid).remove();
  results.serviceAfterRemove = await attempt(() => client.messaging.v1.services(service.sid).fetch());
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
