import { createBatchedWriter } from '../../../src/goplugin/log-writer';

function harness() {
  const writes: string[] = [];
  const turns: Array<() => void> = [];
  const w = createBatchedWriter((t) => writes.push(t), (fn) => turns.push(fn));
  const endTurn = () => turns.splice(0).forEach((fn) => fn());
  return { w, writes, turns, endTurn };
}

describe('createBatchedWriter', () => {
  it('writes nothing during the turn, then the turn\'s lines in one write, in order', () => {
    const { w, writes, turns, endTurn } = harness();
    w.write('a\n');
    w.write('b\n');
    expect(writes).toEqual([]);
    expect(turns).toHaveLength(1);
    endTurn();
    expect(writes).toEqual(['a\nb\n']);
    w.write('c\n');
    endTurn();
    expect(writes).toEqual(['a\nb\n', 'c\n']);
  });

  it('flush writes pending lines at once (process exit) and leaves nothing for the turn', () => {
    const { w, writes, endTurn } = harness();
    w.write('last words\n');
    w.flush();
    expect(writes).toEqual(['last words\n']);
    endTurn();
    expect(writes).toEqual(['last words\n']);
  });

  it('writes at once when a turn piles up more than the bound', () => {
    const { w, writes } = harness();
    const big = 'x'.repeat(200 * 1024) + '\n';
    w.write(big);
    expect(writes).toEqual([]);
    w.write(big);
    expect(writes).toEqual([big + big]);
  });

  it('swallows a failing write (stderr closed) and keeps working', () => {
    let fail = true;
    const writes: string[] = [];
    const w = createBatchedWriter((t) => {
      if (fail) throw new Error('EPIPE');
      writes.push(t);
    }, (fn) => fn());
    expect(() => w.write('lost\n')).not.toThrow();
    fail = false;
    w.write('kept\n');
    expect(writes).toEqual(['kept\n']);
  });
});
