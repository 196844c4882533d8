// Reads each env file named on the command line with Node's dotenv and prints one JSON
// object: {path: {"default": parse(text), "fast": parse(text, {fast: true})}}.
// Used by tests/test_dotenv_compat.py; install with `npm ci --prefix tests/js`.
'use strict'

const fs = require('fs')
const dotenv = require('dotenv')

const out = {}
for (const path of process.argv.slice(2)) {
  const text = fs.readFileSync(path)
  out[path] = {
    default: dotenv.parse(text),
    fast: dotenv.parse(text, { fast: true })
  }
}
process.stdout.write(JSON.stringify({ version: require('dotenv/package.json').version, files: out }))
