"""News: posts to the hotline's public Telegram channels, the bot's subscribers, and broadcasts.

Post texts are public by nature and are stored in clear. Subscribers are Telegram chats (a channel
identity: blind index + chat id under the transport key); nothing here names a person.
"""
