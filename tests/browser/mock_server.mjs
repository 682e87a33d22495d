// Starts the dashboard's mock server (assets/dashboard/mock/mock_server.py) on a free port for
// the browser tests; resolves with the process and its base URL once it prints its address.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export async function startMock(args = []) {
  const proc = spawn('python3', [join(root, 'assets/dashboard/mock/mock_server.py'), '--port', '0', ...args, '--token', 'test-token'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (b) => {
      out += b;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(out);
      if (m) resolve(`http://127.0.0.1:${m[1]}`);
    });
    proc.on('exit', (c) => reject(new Error('mock server exited with ' + c)));
    setTimeout(() => reject(new Error('mock server did not start')), 15000);
  });
  return { proc, base };
}
