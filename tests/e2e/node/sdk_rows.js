// Drive the fake with twilio-node through each row of the fidelity checks; print one JSON object.
// Environment: FAKE_URL, ACCOUNT, TOKEN, SERVICE, SERVICE2, FULL_NUMBER (a number not yet in a
// pool while SERVICE is full), VOICE_ONLY, POOL_SIZE (how many numbers SERVICE holds).
const twilio = require("twilio");

function failure(error) {
  return { status: error.status, code: error.code, message: error.message };
}

async function attempt(call) {
  try {
    await call();
    return { ok: true };
  } catch (error) {
    return failure(error);
  }
}

async function main() {
  const env = process.env;
  const client = twilio(env.ACCOUNT, env.TOKEN);
  client.messaging.baseUrl = env.FAKE_URL;
  const services = client.messaging.v1.services;
  const results = {};

  // The pool-full fallback, as production code does it: 412 with 21714 means "next service".
  const full = await attempt(() =>
    services(env.SERVICE).phoneNumbers.create({ phoneNumberSid: env.FULL_NUMBER })
  );
  results.poolFull = full;
  if (full.status === 412 && full.code === 21714) {
    const added = await services(env.SERVICE2).phoneNumbers.create({ phoneNumberSid: env.FULL_NUMBER });
    results.fallback = { sid: added.sid, serviceSid: added.serviceSid };
    await services(env.SERVICE2).phoneNumbers(env.FULL_NUMBER).remove();
  }

  // A limit above 1000: PageSize is the limit, pages hold 1000, the SDK walks the rest.
  const listed = await services(env.SERVICE).phoneNumbers.list({ limit: 2000 });
  results.listLimit2000 = { count: listed.length, unique: new Set(listed.map((n) => n.sid)).size };
  let streamed = 0;
  await services(env.SERVICE).phoneNumbers.each({ limit: 1500 }, () => {
    streamed += 1;
  });
  results.eachLimit1500 = streamed;

  // Page is client state: echoed, selects nothing. A token the server did not issue is 21481.
  const page = await services(env.SERVICE).phoneNumbers.page({ pageNumber: 3, pageSize: 2 });
  results.pageNumber = { sids: page.instances.map((n) => n.sid), next: page.nextPageUrl };
  const pool = `${env.FAKE_URL}/v1/Services/${env.SERVICE}/PhoneNumbers`;
  results.badToken = await attempt(() =>
    services(env.SERVICE).phoneNumbers.getPage(`${pool}?PageSize=2&PageToken=PAforged`)
  );
  // What the SDK's own request layer sends when asked to: an unknown field and a cache-buster.
  const raw = await client.request({
    method: "post",
    uri: `${env.FAKE_URL}/v1/Services/${env.SERVICE2}/PhoneNumbers`,
    data: { PhoneNumberSid: env.FULL_NUMBER, FriendlyName: "ignored" },
  });
  results.unknownField = raw.statusCode;
  await services(env.SERVICE2).phoneNumbers(env.FULL_NUMBER).remove();
  const cacheBusted = await client.request({ method: "get", uri: `${pool}?_=1700000000` });
  results.cacheBuster = cacheBusted.statusCode;
  results.malformedBodySid = await attempt(() =>
    services(env.SERVICE2).phoneNumbers.create({ phoneNumberSid: "None" })
  );

  results.voiceOnly = await attempt(() =>
    services(env.SERVICE2).phoneNumbers.create({ phoneNumberSid: env.VOICE_ONLY })
  );
  results.undefinedService = await attempt(() => services("undefined").phoneNumbers.list());
  results.noneNumber = await attempt(() => services(env.SERVICE).phoneNumbers("None").fetch());
  const wrong = twilio(env.ACCOUNT, env.TOKEN + "-wrong");
  wrong.messaging.baseUrl = env.FAKE_URL;
  results.wrongToken = await attempt(() => wrong.messaging.v1.services(env.SERVICE).phoneNumbers.list());
  console.log(JSON.stringify(results));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
