// The browser end of a call to the hotel operator: microphone -> WebRTC -> the service, and back.
// Signalling is JSON over the WebSocket /voice/webrtc (see ari_app/webrtc/signalling.py).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const state = { pc: null, ws: null, stream: null, phase: "idle", transcript: [], errors: [], session: null };
  window.hotelCall = state; // for tests and support: the live peer connection and what was said

  const MESSAGES = {
    token_missing: "The call could not be authorised. Reload the page and press Call again.",
    token_expired: "The call took too long to start. Press Call again.",
    token_invalid: "The call could not be authorised. Reload the page and press Call again.",
    token_used: "This call was already started. Press Call again.",
    token_malformed: "The call could not be authorised. Reload the page and press Call again.",
    busy: "All our web lines are busy right now. Please try again in a minute.",
    too_many_calls: "You already have a call open from this device. Hang it up first.",
    disabled: "Calls from this page are switched off. Please call us by phone.",
    bad_sdp: "Your browser offered a call we cannot take. Try a current Chrome, Edge or Firefox.",
    timeout: "The call could not be set up in time. Check your connection and press Call again.",
  };
  const END_REASONS = {
    idle_timeout: "The call ended because we heard nothing for a while.",
    max_duration: "The call reached its time limit. You are welcome to call again.",
    agent_hangup: "The operator ended the call. Thank you for calling.",
    ice_failed: "Your network did not let the call's audio through (a firewall or VPN?).",
    media_lost: "The call's audio connection was lost.",
  };

  function setStatus(text, isError) {
    const el = $("status");
    el.textContent = text;
    el.className = isError ? "error" : "";
    if (isError) state.errors.push(text);
  }

  function addLine(role, text) {
    state.transcript.push({ role: role, text: text });
    const p = document.createElement("p");
    p.className = role === "agent" ? "agent" : "caller";
    const who = document.createElement("b");
    who.textContent = role === "agent" ? "Operator: " : "You: ";
    p.appendChild(who);
    p.appendChild(document.createTextNode(text));
    $("transcript").appendChild(p);
    $("transcript").scrollTop = $("transcript").scrollHeight;
  }

  function setButtons(inCall) {
    $("call").disabled = inCall;
    $("mute").disabled = !inCall;
    $("hangup").disabled = !inCall;
  }

  function micMessage(err) {
    const name = err && err.name;
    if (name === "NotAllowedError" || name === "SecurityError")
      return "Microphone permission was refused. Allow the microphone for this site (the icon in the address bar) and press Call again.";
    if (name === "NotFoundError" || name === "OverconstrainedError")
      return "No microphone was found. Plug one in (or pick one in your system settings) and press Call again.";
    if (name === "NotReadableError" || name === "AbortError")
      return "The microphone is in use by another application, or the system blocked it. Close that application and press Call again.";
    return "The microphone could not be opened (" + (name || err) + ").";
  }

  function send(obj) {
    if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(obj));
  }

  function cleanup() {
    if (state.pc) { try { state.pc.close(); } catch (e) { /* already closed */ } }
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    if (state.ws && state.ws.readyState <= WebSocket.OPEN) state.ws.close(1000);
    state.pc = null; state.stream = null; state.ws = null;
    setButtons(false);
  }

  function waitForIce(pc, ms) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, ms);
    });
  }

  async function call() {
    if (state.phase === "calling" || state.phase === "connected") return;
    state.errors = [];
    if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("This page must be opened over https:// (or on localhost) for the microphone to work.", true);
      return;
    }
    if (!window.RTCPeerConnection) {
      setStatus("This browser cannot make web calls. Try a current Chrome, Edge or Firefox.", true);
      return;
    }
    state.phase = "calling";
    setButtons(true);
    setStatus("Asking for the microphone...");
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true }, video: false,
      });
    } catch (err) {
      state.phase = "idle";
      setStatus(micMessage(err), true);
      cleanup();
      return;
    }
    setStatus("Connecting...");
    let grant;
    try {
      const resp = await fetch("call/token", { method: "POST", cache: "no-store" });
      grant = await resp.json();
      if (!resp.ok) throw new Error(MESSAGES[grant.error] || grant.message || resp.statusText);
    } catch (err) {
      state.phase = "idle";
      setStatus(String(err.message || err), true);
      cleanup();
      return;
    }
    const pc = new RTCPeerConnection({ iceServers: grant.ice_servers || [] });
    state.pc = pc;
    state.stream.getAudioTracks().forEach((t) => pc.addTrack(t, state.stream));
    pc.ontrack = (ev) => { $("remote").srcObject = ev.streams[0] || new MediaStream([ev.track]); };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") setStatus(END_REASONS.ice_failed, true);
    };
    await pc.setLocalDescription(await pc.createOffer({ offerToReceiveAudio: true }));
    await waitForIce(pc, 3000); // candidates go in the offer; later ones are trickled
    pc.onicecandidate = (ev) => {
      if (ev.candidate) send({ type: "ice", candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid,
        sdpMLineIndex: ev.candidate.sdpMLineIndex });
    };
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(scheme + "//" + location.host + location.pathname.replace(/call$/, "webrtc") +
      "?token=" + encodeURIComponent(grant.token));
    state.ws = ws;
    ws.onopen = () => send({ type: "offer", sdp: pc.localDescription.sdp });
    ws.onmessage = async (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "answer") {
        state.session = msg.session;
        await pc.setRemoteDescription({ type: "answer", sdp: msg.sdp });
      } else if (msg.type === "transcript") {
        addLine(msg.role, msg.text);
      } else if (msg.type === "state") {
        if (msg.state === "connected") { state.phase = "connected"; setStatus("Connected. Speak now."); }
        else if (msg.state === "hold") setStatus("On hold...");
        else if (msg.state === "transfer") setStatus(msg.message, true);
        else if (msg.state === "ended") {
          state.phase = "ended";
          if (!state.errors.length) setStatus(END_REASONS[msg.reason] || "Call ended. Thank you for calling.");
        }
      } else if (msg.type === "error") {
        setStatus(MESSAGES[msg.code] || msg.message, true);
      }
    };
    ws.onclose = () => {
      if (state.phase !== "ended" && !state.errors.length) setStatus("Call ended.");
      state.phase = state.phase === "calling" && state.errors.length ? "idle" : "ended";
      cleanup();
    };
    ws.onerror = () => setStatus("The connection to the hotel failed. Check your network and press Call again.", true);
  }

  function hangup() {
    send({ type: "hangup" });
    state.phase = "ended";
    setStatus("Call ended. Thank you for calling.");
    cleanup();
  }

  function toggleMute() {
    if (!state.stream) return;
    const track = state.stream.getAudioTracks()[0];
    track.enabled = !track.enabled;
    $("mute").textContent = track.enabled ? "Mute" : "Unmute";
    $("mute").setAttribute("aria-pressed", String(!track.enabled));
    send({ type: "mute", muted: !track.enabled });
  }

  function key(digit) {
    if (state.phase !== "connected") return;
    send({ type: "dtmf", digits: digit });
    setStatus("Key " + digit + " sent.");
  }

  $("call").addEventListener("click", call);
  $("hangup").addEventListener("click", hangup);
  $("mute").addEventListener("click", toggleMute);
  document.querySelectorAll("#keypad button").forEach((b) => b.addEventListener("click", () => key(b.dataset.key)));
  document.addEventListener("keydown", (ev) => { if (/^[0-9*#]$/.test(ev.key)) key(ev.key); });
  window.addEventListener("beforeunload", () => { if (state.ws) hangup(); });
})();
