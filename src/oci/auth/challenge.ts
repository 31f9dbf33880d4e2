/**
 * WWW-Authenticate parsing (RFC 9110 §11.6.1) for the Basic and Bearer
 * schemes used by registries. Handles quoted and unquoted parameters,
 * backslash escapes, commas inside quotes, several challenges in one header,
 * and AWS ECR's `Basic realm="...",service="..."` with no space after commas.
 */

export interface Challenge {
  /** Lower-cased scheme, e.g. "bearer" or "basic". */
  scheme: string;
  /** Parameter names lower-cased; values unescaped. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

export function parseChallenges(headers: string | string[] | undefined): Challenge[] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers) ? headers : [headers];
  return list.flatMap(parseOne);
}

/** The most useful challenge: Bearer wins over Basic (registries offering both prefer tokens). */
export function pickChallenge(challenges: Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
}

function parseOne(input: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const n = input.length;
  const skip = (chars: string): void => {
    while (i < n && chars.includes(input[i] as string)) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && TOKEN_CHAR.test(input[i] as string)) i++;
    return input.slice(start, i);
  };
  // Unquoted values should be tokens, but realms like https://r/t appear bare in the wild.
  const bare = (): string => {
    const start = i;
    while (i < n && input[i] !== ',' && input[i] !== ' ' && input[i] !== '\t') i++;
    return input.slice(start, i);
  };
  const quoted = (): string => {
    let value = '';
    i++; // opening quote
    while (i < n && input[i] !== '"') {
      if (input[i] === '\\' && i + 1 < n) i++;
      value += input[i];
      i++;
    }
    i++; // closing quote (or end)
    return value;
  };

  // Bounded by input length: every iteration consumes at least one char or stops.
  while (i < n) {
    skip(' \t,');
    const scheme = token();
    if (!scheme) {
      i++;
      continue;
    }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    for (;;) {
      const save = i;
      skip(' \t,');
      const name = token();
      skip(' \t');
      if (!name || input[i] !== '=') {
        // Not a parameter: the next challenge's scheme starts here.
        i = save;
        break;
      }
      i++; // '='
      skip(' \t');
      const value = input[i] === '"' ? quoted() : bare();
      challenge.params[name.toLowerCase()] = value;
    }
  }
  return out;
}
