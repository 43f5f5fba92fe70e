import { expect } from 'chai';
import {
  ERROR_MESSAGE_MAX_CHARS,
  REMOTE_TEXT_MAX_CHARS,
  quoteRemote,
  remoteCode,
  shownErrorMessage,
  withoutSecretValues,
} from '@bx/core';

/** Any control or format character a terminal, a log reader or a page could act on. */
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

describe("a destination server's words in our messages (remote-text)", () => {
  it('quoteRemote: one quotation the words cannot end, with no control or format character left', () => {
    const words = 'denied"\n{"level":"error","msg":"forged"}\u001b[31m\u202Egnp.exe\u2028end\\';
    const sut = quoteRemote(words);
    expect(sut).to.equal(
      '"denied\\"\\n{\\"level\\":\\"error\\",\\"msg\\":\\"forged\\"}\\u001b[31m\\u202egnp.exe\\u2028end\\\\"',
    );
    expect(sut).not.to.match(CONTROL);
    // Read back as JSON, it is the words again: nothing was lost but made visible.
    expect(JSON.parse(sut)).to.equal(words);
  });

  it('quoteRemote: pages of words are cut to REMOTE_TEXT_MAX_CHARS, the word the cut split left out', () => {
    const sut = quoteRemote('word '.repeat(REMOTE_TEXT_MAX_CHARS * 50));
    expect(sut).to.equal(`"${'word '.repeat(REMOTE_TEXT_MAX_CHARS / 5)}…"`);
    expect(quoteRemote('wordy '.repeat(REMOTE_TEXT_MAX_CHARS))).to.equal(
      `"${'wordy '.repeat(Math.floor(REMOTE_TEXT_MAX_CHARS / 6))}…"`,
    );
    // One word longer than the cap is one cut word: none of it is kept.
    expect(quoteRemote('x'.repeat(REMOTE_TEXT_MAX_CHARS + 1))).to.equal('"…"');
    expect(quoteRemote('x'.repeat(REMOTE_TEXT_MAX_CHARS))).to.equal(`"${'x'.repeat(REMOTE_TEXT_MAX_CHARS)}"`);
  });

  it("remoteCode: a server's code becomes ours only when it is a plain word", () => {
    expect(remoteCode('AccessDenied')).to.equal('AccessDenied');
    expect(remoteCode('KMS.NotFoundException')).to.equal('KMS.NotFoundException');
    expect(remoteCode('390100')).to.equal('390100');
    for (const odd of ['AccessDenied<img src=x onerror=alert(1)>', 'a b', 'x\ny', '', 'c'.repeat(65), 42, null]) {
      expect(remoteCode(odd), String(odd)).to.equal('Unknown');
    }
    expect(remoteCode('<b>', '')).to.equal('');
  });

  it('withoutSecretValues: each secret out, also JSON-escaped or percent-encoded; short or absent ones ignored', () => {
    const secret = 'p@ss "word"/1';
    const text = `raw ${secret}; json ${JSON.stringify(secret)}; url ${encodeURIComponent(secret)}; short ab`;
    const sut = withoutSecretValues(text, [secret, 'ab', null, undefined, 7]);
    expect(sut).to.equal('raw [redacted]; json "[redacted]"; url [redacted]; short ab');
  });

  it('shownErrorMessage: secrets out, one line, bounded', () => {
    const sut = shownErrorMessage('login failed: you sent hunter2-secret\n{"msg":"forged"}\r\u001b[2J', [
      'hunter2-secret',
    ]);
    expect(sut).to.equal('login failed: you sent [redacted]\\n{"msg":"forged"}\\r\\u001b[2J');
    expect(shownErrorMessage('y'.repeat(ERROR_MESSAGE_MAX_CHARS + 10), [])).to.have.length(ERROR_MESSAGE_MAX_CHARS);
  });

  it('withoutSecretValues: a secret inside a longer one (a password that starts the passphrase) leaves nothing of it', () => {
    const password = 'hunter2-secret';
    const passphrase = `${password}-and-the-rest-of-it`;
    const sut = withoutSecretValues(`sent ${passphrase} and ${password}`, [password, passphrase]);
    expect(sut).to.equal('sent [redacted] and [redacted]');
  });

  it("withoutSecretValues: lowercase percent-encoding, + for a space, encoded !'()*", () => {
    const secret = 'p@ss word/1!(x)';
    const forms = ['p%40ss+word%2f1!(x)', 'p%40ss%20word%2F1%21%28x%29', 'p%40ss+word%2f1%21%28x%29'];
    const sut = withoutSecretValues(forms.join(' '), [secret]);
    expect(sut).to.equal('[redacted] [redacted] [redacted]');
  });

  it('shownErrorMessage: a secret the server quoted past REMOTE_TEXT_MAX_CHARS, cut in half, leaves no part of it', () => {
    const secret = 'Sup3r-Secret-Pass"word\\99';
    for (const cutAfter of [1, 4, 10, 20]) {
      // The cut falls `cutAfter` characters into the secret.
      const words = `${'x'.repeat(REMOTE_TEXT_MAX_CHARS - cutAfter - 10)} you sent ${secret} and more`;
      const sut = shownErrorMessage(`PostgreSQL load failed: ${quoteRemote(words)}`, [secret]);
      expect(sut, `cut after ${cutAfter}`).to.match(/^PostgreSQL load failed: "x+ you sent …"$/);
    }
  });

  it('withoutSecretValues: text that only starts a secret stays as it is, a cut mark after it or not', () => {
    // Redacting it told a token holder, for names of their own in a message, which start the secret.
    const secret = 'hunter2-secret-0123';
    for (const text of ['schema "hunt…" does not exist', 'name hunter2-se…', 'ends with hunter2-secret-01']) {
      expect(withoutSecretValues(text, [secret]), text).to.equal(text);
    }
    expect(withoutSecretValues(`all of it: ${secret}…`, [secret])).to.equal('all of it: [redacted]…');
  });

  it('withoutSecretValues: a setting the reader sees keeps its text where it occurs, the secret elsewhere goes', () => {
    // A schema named after the whole password came back `[redacted]` only when the guess was right.
    const secret = 'hunter2-secret-0123';
    const schema = `x_${secret}_y`;
    const text = `schema "${schema}" does not exist; sent "${secret}" and ${JSON.stringify(schema)}`;
    expect(withoutSecretValues(text, [secret], [schema, 'public'])).to.equal(
      `schema "${schema}" does not exist; sent "[redacted]" and ${JSON.stringify(schema)}`,
    );
    expect(withoutSecretValues(text, [secret], ['public', 'other-name'])).to.equal(
      'schema "x_[redacted]_y" does not exist; sent "[redacted]" and "x_[redacted]_y"',
    );
    expect(shownErrorMessage(`schema "${secret}"`, [secret], [secret])).to.equal(`schema "${secret}"`);
  });

  it('shownErrorMessage: at most ERROR_MESSAGE_MAX_CHARS characters once escaped, no escape cut in half', () => {
    const sut = shownErrorMessage(`a${'\u0001'.repeat(ERROR_MESSAGE_MAX_CHARS)}`, []);
    expect(sut.length).to.be.at.most(ERROR_MESSAGE_MAX_CHARS);
    expect(sut).to.match(/^a(\\u0001)+…$/);
  });
});
