// The sign-in page: phone → code by SMS → who (when the phone is several people's) → the
// household's cancel PIN on its first sign-in → the page the person came for. The session
// lives in an HttpOnly cookie the server sets; this script never sees it.

const WORDS = {
  zh: {
    title: '十户联防 · 登录', other_language: 'English', phone_label: '手机号',
    send_code: '发送验证码', code_label: '短信验证码（6 位数字）', sign_in: '登录',
    send_again: '重新发送',
    choose: '这个手机号登记在几户人家，请选择您要登录的身份：',
    pin_title: '设置撤销密码',
    pin_why: '按错了求助按钮时，输入这个密码就能撤销警报。请选一个家里人都记得的 4–8 位数字。',
    pin_label: '撤销密码', duress_title: '胁迫密码',
    duress_why: '如果有人逼您撤销警报，就输入这个密码：屏幕上看起来已经撤销，但巡逻队和警务室会悄悄收到真正的警报。它必须和撤销密码不同。',
    duress_label: '胁迫密码', save_pin: '保存',
    sent: (s) => `如果这个号码已登记，验证码已发出，${Math.round(s / 60)} 分钟内有效。`,
    network: '网络不通：请稍后再试。紧急情况请直接拨打本组报警电话或 110 / 120 / 119。',
    pin_digits: '两个密码都要 4 到 8 位数字。', pin_same: '胁迫密码必须和撤销密码不同。',
  },
  en: {
    title: 'TenWatch · Sign in', other_language: '中文', phone_label: 'Mobile number',
    send_code: 'Text me a code', code_label: 'Code from the text (6 digits)', sign_in: 'Sign in',
    send_again: 'Send again',
    choose: 'This number is registered for more than one home. Who are you signing in as?',
    pin_title: 'Set your cancel PIN',
    pin_why: 'If help is pressed by mistake, this PIN cancels the alarm. Pick 4–8 digits everyone at home remembers.',
    pin_label: 'Cancel PIN', duress_title: 'Duress PIN',
    duress_why: 'If someone forces you to cancel, type this one instead: the screen shows the alarm cancelled, but the patrol and the police office quietly get a real alarm. It must differ from the cancel PIN.',
    duress_label: 'Duress PIN', save_pin: 'Save',
    sent: (s) => `If this number is registered, a code is on its way; it is valid ${Math.round(s / 60)} minutes.`,
    network: 'No connection: try again soon. In an emergency call your group\'s alarm number or 110 / 120 / 119.',
    pin_digits: 'Both PINs are 4 to 8 digits.', pin_same: 'The duress PIN must differ from the cancel PIN.',
  },
};

// Chinese unless the person chose otherwise on this device (the community's language).
let language = localStorage.getItem('tw.language') === 'en' ? 'en' : 'zh';
let phone = '';
let choice = null;
const $ = (id) => document.getElementById(id);
const word = (key, ...args) => {
  const found = WORDS[language][key];
  return typeof found === 'function' ? found(...args) : found;
};

function render() {
  document.documentElement.lang = language;
  for (const node of document.querySelectorAll('[data-word]')) node.textContent = word(node.dataset.word);
  document.title = word('title');
}

function say(text) { $('message').textContent = text || ''; }

function show(step) {
  for (const id of ['phone-step', 'code-step', 'choose-step', 'pin-step']) $(id).hidden = id !== step;
  const first = $(step).querySelector('input, button');
  if (first) first.focus();
}

function csrf() {
  const found = document.cookie.split('; ').find((c) => c.startsWith('tw_csrf='));
  return found ? decodeURIComponent(found.slice(8)) : '';
}

async function call(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'Accept': 'application/json', 'X-CSRF-Token': csrf() },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new Error(word('network'));
  }
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const detail = data && data.detail;
    throw new Error(typeof detail === 'string' ? detail : Array.isArray(detail) ? detail.map((d) => d.msg).join('; ') : `HTTP ${response.status}`);
  }
  return data;
}

function normalise(text) {
  const digits = text.replace(/[\s-]/g, '');
  if (digits.startsWith('+')) return digits;
  if (/^1\d{10}$/.test(digits)) return '+86' + digits;  // a mainland mobile typed without +86
  return digits;
}

async function sendCode(event) {
  event.preventDefault();
  say('');
  phone = normalise($('phone').value);
  try {
    const sent = await call('POST', '/api/sign-in/code', { phone });
    $('code-sent').textContent = word('sent', sent.valid_seconds);
    show('code-step');
  } catch (error) { say(error.message); }
}

async function verify(event) {
  event.preventDefault();
  say('');
  try {
    const answer = await call('POST', '/api/sign-in/verify', { phone, code: $('code').value.trim() });
    if (answer.signed_in) return signedIn(answer);
    choice = answer.choice;
    const list = $('choices');
    list.replaceChildren();
    for (const person of answer.choose) {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = person.label;
      button.addEventListener('click', () => choose(person.identity));
      list.append(button);
    }
    show('choose-step');
  } catch (error) { say(error.message); }
}

async function choose(identity) {
  say('');
  try { signedIn(await call('POST', '/api/sign-in/choose', { phone, choice, identity })); }
  catch (error) { say(error.message); }
}

let destination = '/app';

function signedIn(answer) {
  const next = new URLSearchParams(location.search).get('next');
  destination = next && next.startsWith('/') && !next.startsWith('//') ? next : answer.kind === 'staff' ? '/board' : '/app';
  if (answer.needs_pin) return show('pin-step');
  location.assign(destination);
}

async function savePin(event) {
  event.preventDefault();
  say('');
  const pin = $('pin').value.trim();
  const duress = $('duress').value.trim();
  if (!/^\d{4,8}$/.test(pin) || !/^\d{4,8}$/.test(duress)) return say(word('pin_digits'));
  if (duress === pin) return say(word('pin_same'));
  try {
    await call('PUT', '/api/household/pin', { pin, duress_pin: duress });
    location.assign(destination);
  } catch (error) { say(error.message); }
}

$('phone-step').addEventListener('submit', sendCode);
$('code-step').addEventListener('submit', verify);
$('pin-step').addEventListener('submit', savePin);
$('again').addEventListener('click', () => { show('phone-step'); });
$('language').addEventListener('click', () => {
  language = language === 'zh' ? 'en' : 'zh';
  localStorage.setItem('tw.language', language);
  render();
});
render();
