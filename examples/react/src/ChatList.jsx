// The session's chats: open one, see which are unread or streaming, add one, rename one, delete one (only
// offered while the session has more than one: Recoup refuses to delete the only chat).

import { useState } from "react";

export default function ChatList({ chats, activeId, busyId, onOpen, onNew, onRename, onDelete }) {
  const [editing, setEditing] = useState(null);
  return (
    <nav id="chats" aria-label="Chats">
      <div className="chats-head">
        <h2>Chats</h2>
        <button type="button" id="new-chat" onClick={onNew}>New chat</button>
      </div>
      <ul id="chat-list">
        {chats.map((chat) => {
          const streaming = chat.isStreaming || chat.id === busyId;
          return (
            <li key={chat.id} className="chat-item" data-id={chat.id} data-active={String(chat.id === activeId)}
              data-unread={String(Boolean(chat.hasUnread))} data-streaming={String(streaming)}>
              {editing === chat.id ? (
                <RenameForm title={chat.title} onDone={() => setEditing(null)}
                  onSave={(title) => onRename(chat.id, title).finally(() => setEditing(null))} />
              ) : (
                <button type="button" className="open" onClick={() => onOpen(chat.id)}>
                  <span className="title">{chat.title}</span>
                </button>
              )}
              {streaming && <span className="mark streaming">streaming</span>}
              {chat.hasUnread && <span className="mark unread">unread</span>}
              {editing !== chat.id && (
                <span className="actions">
                  <button type="button" className="rename" onClick={() => setEditing(chat.id)}>Rename</button>
                  {chats.length > 1 && (
                    <button type="button" className="delete" onClick={() => onDelete(chat.id)}>Delete</button>
                  )}
                </span>
              )}
            </li>
          );
        })}
      </ul>
    </nav>
  );
}

function RenameForm({ title, onSave, onDone }) {
  const [value, setValue] = useState(title);
  const submit = (event) => {
    event.preventDefault();
    const next = value.trim();
    if (!next || next === title) onDone();
    else onSave(next);
  };
  return (
    <form className="rename-form" onSubmit={submit}>
      <input className="rename-input" aria-label="Chat title" value={value} autoFocus
        onChange={(e) => setValue(e.target.value)} onKeyDown={(e) => { if (e.key === "Escape") onDone(); }} />
      <button type="submit" className="save">Save</button>
    </form>
  );
}
