// The oracle's functions, run by the Node Functions Framework
// (npm @google-cloud/functions-framework) in tests/gcp_functions_framework.rs: what the
// reference framework hands a function, printed as one JSON line per invocation.
const functions = require('@google-cloud/functions-framework');

functions.http('hello', (req, res) => {
  res.send(`hello from ${req.path}`);
});

functions.cloudEvent('sink', cloudEvent => {
  console.log(JSON.stringify({seen: cloudEvent}));
});
