// Drive the fake with twilio-node through the numbers flow; print one JSON object.
// Environment: FAKE_URL, ACCOUNT, TOKEN, SERVICE, OTHER_NUMBER (a number of another account).
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

  const found = await client.availablePhoneNumbers("US").local.list({ areaCode: 415, limit: 2 });
  results.found = found.map((n) => n.phoneNumber);
  const numbers = client.incomingPhoneNumbers;
  const first = await numbers.create({ phoneNumber: found[0].phoneNumber });
  const second = await numbers.create({ phoneNumber: found[1].phoneNumber });
  results.bought = [first.phoneNumber, second.phoneNumber];
  results.dateCreatedIsDate = first.dateCreated instanceof Date && !isNaN(first.dateCreated);
  results.listed = (await numbers.list({ pageSize: 2 })).map((n) => n.sid);
  results.sids = [first.sid, second.sid];
  const updated = await numbers(first.sid).update({ smsUrl: "https://example.com/sms" });
  results.smsUrl = updated.smsUrl;
  await client.messaging.v1.services(env.SERVICE).phoneNumbers.create({ phoneNumberSid: first.sid });
  results.released = await numbers(first.sid).remove();
  results.poolAfterRelease = await attempt(() =>
    client.messaging.v1.services(env.SERVICE).phoneNumbers(first.sid).fetch()
  );
  results.magicUnavailable = await attempt(() => numbers.create({ phoneNumber: "+15005550000" }));
  results.magicInvalid = await attempt(() => numbers.create({ phoneNumber: "+15005550001" }));
  results.magicEmptyAreaCode = await attempt(() => numbers.create({ areaCode: "533" }));
  results.magicAvailable = (await numbers.create({ areaCode: "500" })).phoneNumber;
  results.otherAccountsNumber = await attempt(() => numbers(env.OTHER_NUMBER).fetch());
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
