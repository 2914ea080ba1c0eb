// Issue 18's flow with twilio-node: a service whose pool holds a US number (bought from a search)
// and a French one (FR_SENDER), a French mobile's message and three to one US recipient, the
// status callbacks received here and checked with twilio-node's own validateRequest, in order
// and then reversed by a callback fault, the errors table (ERRORS: [name, form] in Twilio's
// parameter names), and STOP. Prints one JSON object.
// Environment: FAKE_URL, ACCOUNT, TOKEN, FR_SENDER, FR_RECIPIENT, US_RECIPIENT, US_AREA_CODE, ERRORS.
const http = require("http");
const twilio = require("twilio");

const env = process.env;
const NODE_NAMES = {
  To: "to",
  From: "from",
  MessagingServiceSid: "messagingServiceSid",
  Body: "body",
  MediaUrl: "mediaUrl",
  StatusCallback: "statusCallback",
};

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

// The fake's control surface (no credentials: the test's fake has no control token).
async function control(method, path, body) {
  const response = await fetch(env.FAKE_URL + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// A webhook receiver: every request, with whether twilio-node's validator accepts it.
function receiver() {
  const received = [];
  const server = http.createServer((request, response) => {
    let body = "";
    request.on("data", (chunk) => (body += chunk));
    request.on("end", () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      const url = `http://${request.headers.host}${request.url}`;
      const signature = request.headers["x-twilio-signature"];
      received.push({
        params,
        valid: twilio.validateRequest(env.TOKEN, signature, url, params),
        forged: twilio.validateRequest("another auth token", signature, url, params),
      });
      response.writeHead(200, { "Content-Type": "text/xml" });
      response.end("<Response/>");
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ server, received, url: `http://127.0.0.1:${server.address().port}/callbacks` })
    )
  );
}

function fill(value, names) {
  if (Array.isArray(value)) return value.map((item) => fill(item, names));
  for (const [placeholder, real] of Object.entries(names)) value = value.split(placeholder).join(real);
  return value;
}

async function main() {
  const client = twilio(env.ACCOUNT, env.TOKEN);
  client.api.baseUrl = env.FAKE_URL;
  client.messaging.baseUrl = env.FAKE_URL;
  const hook = await receiver();
  const results = {};

  const service = await client.messaging.v1.services.create({ friendlyName: "Reminders", stickySender: true });
  const found = await client.availablePhoneNumbers("US").local.list({
    areaCode: Number(env.US_AREA_CODE),
    smsEnabled: true,
    mmsEnabled: true,
    limit: 1,
  });
  const us = await client.incomingPhoneNumbers.create({ phoneNumber: found[0].phoneNumber });
  const fr = await client.incomingPhoneNumbers.create({ phoneNumber: env.FR_SENDER });
  for (const number of [us, fr]) {
    await client.messaging.v1.services(service.sid).phoneNumbers.create({ phoneNumberSid: number.sid });
  }
  results.usSender = us.phoneNumber;
  results.frSender = fr.phoneNumber;

  const clock = `/_fake/clock/${env.ACCOUNT}`;
  await control("POST", clock, { freeze: true });
  const send = (to, body) =>
    client.messages.create({ messagingServiceSid: service.sid, to, body, statusCallback: hook.url });
  const french = await send(env.FR_RECIPIENT, "Bonjour");
  const americans = [];
  for (let i = 0; i < 3; i++) americans.push(await send(env.US_RECIPIENT, `Reminder ${i}`));
  await control("POST", clock, { advance_seconds: 60 });

  const fetched = [];
  for (const message of [french, ...americans]) fetched.push(await client.messages(message.sid).fetch());
  results.frenchFrom = fetched[0].from;
  results.usFrom = fetched.slice(1).map((m) => m.from);
  results.finalStatuses = fetched.map((m) => m.status);
  const statusesOf = (sid) =>
    hook.received.filter((r) => r.params.MessageSid === sid).map((r) => r.params.MessageStatus);
  results.inOrder = fetched.map((m) => statusesOf(m.sid));

  const later = await send(env.US_RECIPIENT, "Reversed");
  await control("POST", "/_fake/callback-faults", {
    action: "reverse",
    account: env.ACCOUNT,
    times: results.inOrder[0].length,
  });
  await control("POST", clock, { advance_seconds: 60 });
  results.reversed = statusesOf(later.sid);
  results.callbacks = hook.received.length;
  results.validated = hook.received.filter((r) => r.valid).length;
  results.forgedAccepted = hook.received.filter((r) => r.forged).length;

  // The errors table: the SDK where it sends the request, a raw request where it refuses to
  // (it requires `to` before sending anything).
  const other = await client.messaging.v1.services.create({ friendlyName: "Empty" });
  const names = { "{us}": us.phoneNumber, "{fr}": fr.phoneNumber, "{service}": service.sid, "{other_service}": other.sid };
  results.errors = {};
  for (const [name, form] of JSON.parse(env.ERRORS)) {
    const filled = Object.fromEntries(Object.entries(form).map(([key, value]) => [key, fill(value, names)]));
    if (!("To" in filled)) {
      const response = await client.request({
        method: "post",
        uri: `${env.FAKE_URL}/2010-04-01/Accounts/${env.ACCOUNT}/Messages.json`,
        data: filled,
      });
      const body = typeof response.body === "string" ? JSON.parse(response.body) : response.body;
      results.errors[name] = { status: response.statusCode, code: body.code, message: body.message };
      continue;
    }
    const params = Object.fromEntries(Object.entries(filled).map(([key, value]) => [NODE_NAMES[key], value]));
    results.errors[name] = await attempt(() => client.messages.create(params));
  }

  await control("POST", "/_fake/inbound", { from: env.US_RECIPIENT, to: us.phoneNumber, body: "STOP", account: env.ACCOUNT });
  results.afterStop = await attempt(() => send(env.US_RECIPIENT, "After STOP"));
  await control("POST", "/_fake/inbound", { from: env.US_RECIPIENT, to: us.phoneNumber, body: "START", account: env.ACCOUNT });
  results.afterStart = (await send(env.US_RECIPIENT, "After START")).status;

  hook.server.close();
  process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
  process.stderr.write(String(error && error.stack ? error.stack : error));
  process.exit(1);
});
